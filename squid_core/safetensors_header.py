"""The one reader of a ``.safetensors`` header, and the writer that replaces its metadata.

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor
names, dtypes, shapes, byte offsets, and an optional ``"__metadata__"`` dict of
string to string), then the raw tensor bytes. Offsets are relative to the start of
the byte buffer, so the header can be replaced by one of another length while the
tensor bytes are streamed over unchanged. That makes listing a library cheap (no
weights read, no torch import) and renaming a model exact (weights byte-identical).

Loading a model (`squid_core.model_file`) and the model library
(`squid_core.library`) both read headers here: one size limit
(:data:`MAX_HEADER_BYTES`), one set of messages, one exception
(:class:`ModelFileError`). A file is only ever parsed as JSON, never unpickled, and a
declared header larger than the limit or than the file is refused before anything
is allocated for it.

The model file contract (``docs/architecture.md``) keeps our document as a JSON
string under the metadata key ``"squid"``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from squid_core.atomic_file import atomic_output

#: Metadata key that holds the model's JSON document.
SQUID_KEY = "squid"
#: The document's "format" value, and the newest "format_version" this version reads.
FORMAT = "squid-viewer-model"
FORMAT_VERSION = 1
#: Refuse larger declared headers before allocating them: ~100k tensors' worth; real
#: model files need ~50 kB.
MAX_HEADER_BYTES = 16 * 1024 * 1024
_ALIGN = 8


class ModelFileError(Exception):
    """A model file that cannot be read or written; ``str(e)`` is a user-facing message."""


@dataclass(frozen=True)
class SafetensorsHeader:
    """A parsed header: ``tensors`` (name -> entry, without ``__metadata__``),
    ``metadata`` (the string dict), ``data_start`` (byte offset of the tensor bytes) and
    ``data_bytes`` (how many tensor bytes the file holds)."""

    tensors: dict[str, Any]
    metadata: dict[str, Any]
    data_start: int
    data_bytes: int


def read_safetensors_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Parse the framing and JSON header of ``path``; ``ModelFileError`` says what is wrong."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise ModelFileError(f"{name} is not a model file: it is empty or too short")
            (n,) = struct.unpack("<Q", prefix)
            if n < 2 or n > MAX_HEADER_BYTES or n > size - 8:
                raise ModelFileError(
                    f"{name} is not a valid model file: its header claims {n} bytes "
                    f"(file size {size}); the file is damaged, truncated or not a model"
                )
            raw = fh.read(n)
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"no permission to read {path}") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) != n:  # the file shrank while being read
        raise ModelFileError(f"{name} is truncated: its header ends early")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(
            f"{name} is not a SQUID model file (its header is not valid JSON; "
            "the file is damaged or of another kind)"
        ) from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{name} is not a SQUID model file (unexpected header)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise ModelFileError(f"{name} is not a SQUID model file (unexpected metadata)")
    return SafetensorsHeader(header, meta, 8 + n, size - 8 - n)


def squid_document(header: SafetensorsHeader, name: str) -> dict[str, Any]:
    """The model's JSON document (metadata key ``"squid"``), its format and version checked."""
    if SQUID_KEY not in header.metadata:
        raise ModelFileError(
            f"{name} is a safetensors file but not a SQUID Viewer model (no SQUID metadata). "
            "Checkpoints of the reference SQUID code must be converted with "
            "'squid import-reference'."
        )
    try:
        doc = json.loads(header.metadata[SQUID_KEY])
    except (TypeError, json.JSONDecodeError):
        raise ModelFileError(f"{name}: the model description is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{name}: the model description is not a JSON object")
    if doc.get("format") != FORMAT:
        raise ModelFileError(f"{name} is not a SQUID Viewer model (format {doc.get('format')!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{name}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{name} was written by a newer SQUID Viewer (model format {version}; this version "
            f"reads up to {FORMAT_VERSION}). Please update the software."
        )
    return doc


def read_squid_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's JSON document of ``path`` (header only: no weights read, no torch)."""
    return squid_document(read_safetensors_header(path), Path(path).name)


def write_with_squid_metadata(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], doc: dict[str, Any]
) -> None:
    """Write ``src`` to ``dst`` with its ``"squid"`` document replaced by ``doc``, atomically.

    Other ``__metadata__`` keys and all tensor bytes are kept. ``dst`` may equal
    ``src``: the new file is written next to ``dst`` under a temporary name, flushed
    to disk, then renamed over it, so a crash leaves either the old or the new file.
    """
    header = read_safetensors_header(src)
    meta = dict(header.metadata)
    meta[SQUID_KEY] = json.dumps(doc, sort_keys=True)
    blob = json.dumps({**header.tensors, "__metadata__": meta},
                      separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % _ALIGN)
    if len(blob) > MAX_HEADER_BYTES:
        raise ModelFileError(f"{Path(dst).name}: the model description is too large to store")
    with atomic_output(dst) as out, Path(src).open("rb") as inp:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        inp.seek(header.data_start)
        shutil.copyfileobj(inp, out, length=4 * 1024 * 1024)
