"""``find_image_files(paths)``: the one way candidate image files are found in folders.

The viewer's folder opening and the training wizard (through :func:`scan`), training,
calibration, ``squid score`` and ``squid eval`` all call this, so one folder yields the
same files everywhere. The rules:

* A path named explicitly (not a folder) is always a candidate, whatever its name, and
  even when it does not exist: the reader then says why it cannot be opened.
* Folders are searched recursively. Hidden files and folders (name starting with
  ".") are skipped.
* A file whose name ends in an image suffix (:data:`IMAGE_SUFFIXES`), or has no suffix
  (DICOM files often have none), is a candidate; the reader decides whether it is an
  image and says why not (a damaged ``.png`` is reported, not hidden).
* Any other file is a candidate only when its first bytes are those of a DICOM, PNG,
  JPEG or TIFF file (what :func:`squid_core.io.reader.detect_format` recognises):
  DICOM files named by their UID (``1.2.840....7``), Siemens ``.IMA`` files and the
  like are found; README.md, CSV files and other documents are not.
* Symbolic links to folders are followed, each real folder at most once, so a link
  back to an ancestor (a loop) ends there; a file reached by several paths (links,
  DICOMDIR references, overlapping arguments) is listed once, under the first of its
  paths in sorted order.

Only the first :data:`squid_core.io.reader.HEAD_BYTES` bytes of a file with an
unexpected suffix are read; everything else is left to the reader and its size guards.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from squid_core.io.errors import ImageReadError
from squid_core.io.reader import detect_format, read_head

__all__ = ["IMAGE_SUFFIXES", "find_image_files", "is_hidden"]

#: Suffixes that make a file in a folder a candidate without looking inside it.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom", ".dic", ".ima"}
)

PathsArg = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is hidden (starts with a dot)."""
    return name.startswith(".")


def _by_content(path: Path) -> bool:
    """Whether the file's first bytes are those of an image the reader opens."""
    try:
        return detect_format(read_head(path)) is not None
    except ImageReadError:
        return False


def _is_candidate(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix == "" or suffix in IMAGE_SUFFIXES or _by_content(path)


def _walk(root: Path) -> Iterator[Path]:
    """Candidate files under ``root``; linked folders followed once per real folder."""
    visited = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            if not is_hidden(d) and real not in visited:
                visited.add(real)
                keep.append(d)
        dirnames[:] = keep
        for name in filenames:
            path = Path(dirpath) / name
            if not is_hidden(name) and _is_candidate(path):
                yield path


def find_image_files(paths: PathsArg) -> list[Path]:
    """Candidate image files under ``paths`` (files and folders), sorted, each real file
    once (see the module docstring for the rules)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(_walk(p))
        else:
            found.append(p)
    out: list[Path] = []
    seen: set[str] = set()
    for path in sorted(found):
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out
