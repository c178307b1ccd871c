"""Read and rewrite the JSON metadata of a ``.safetensors`` file without touching its tensors.

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor
names, dtypes, shapes, byte offsets, and an optional ``"__metadata__"`` dict of
string to string), then the raw tensor bytes. Offsets are relative to the start of
the byte buffer, so the header can be replaced by one of another length while the
tensor bytes are streamed over unchanged. That makes listing a library cheap (no
weights read, no torch import) and renaming a model exact (weights byte-identical).

The model file contract (``docs/architecture.md``) keeps our document as a JSON
string under the metadata key ``"squid"``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

from squid_core.atomic_file import atomic_output

#: Metadata key that holds the model's JSON document.
SQUID_KEY = "squid"

# Refuse absurd headers before allocating them: real ones are a few hundred kB at most.
_MAX_HEADER_BYTES = 100 * 1024 * 1024
_ALIGN = 8


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why."""


def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
    """The parsed JSON header and the byte offset at which tensor data starts."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) != 8:
                raise HeaderError(f"{p.name}: file too short to be a safetensors model")
            (n,) = struct.unpack("<Q", raw_len)
            if n <= 1 or n > _MAX_HEADER_BYTES:
                raise HeaderError(f"{p.name}: not a safetensors file (header size {n})")
            blob = fh.read(n)
    except OSError as exc:
        raise HeaderError(f"{p.name}: cannot read ({exc.strerror or exc})") from exc
    if len(blob) != n:
        raise HeaderError(f"{p.name}: truncated safetensors header")
    try:
        header = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(f"{p.name}: corrupt safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise HeaderError(f"{p.name}: corrupt safetensors header (not a JSON object)")
    return header, 8 + n


def read_squid_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model's JSON document (metadata key ``"squid"``); ``HeaderError`` if absent."""
    header, _ = read_header(path)
    meta = header.get("__metadata__") or {}
    doc = meta.get(SQUID_KEY) if isinstance(meta, dict) else None
    if not isinstance(doc, str):
        raise HeaderError(f"{Path(path).name}: no SQUID metadata (not a SQUID Viewer model file)")
    try:
        parsed = json.loads(doc)
    except json.JSONDecodeError as exc:
        raise HeaderError(f"{Path(path).name}: corrupt SQUID metadata ({exc})") from exc
    if not isinstance(parsed, dict):
        raise HeaderError(f"{Path(path).name}: corrupt SQUID metadata (not a JSON object)")
    return parsed


def write_with_squid_metadata(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], doc: dict[str, Any]
) -> None:
    """Write ``src`` to ``dst`` with its ``"squid"`` document replaced by ``doc``, atomically.

    Other ``__metadata__`` keys and all tensor bytes are kept. ``dst`` may equal
    ``src``: the new file is written next to ``dst`` under a temporary name, flushed
    to disk, then renamed over it, so a crash leaves either the old or the new file.
    """
    header, data_start = read_header(src)
    meta = dict(header.get("__metadata__") or {})
    meta[SQUID_KEY] = json.dumps(doc, sort_keys=True)
    header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % _ALIGN)
    with atomic_output(dst) as out, Path(src).open("rb") as inp:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        inp.seek(data_start)
        shutil.copyfileobj(inp, out, length=4 * 1024 * 1024)
