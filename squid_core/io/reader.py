"""``read_image(path)``: the one entry point that opens any supported file.

The format is decided by content, never by extension: a DICOM Part 10 file
(the "DICM" prefix after its 128-byte preamble), a PNG / JPEG / TIFF by its
magic bytes, else a DICOM data set without preamble when its first element
looks like one (:func:`squid_core.io.dicom_io.looks_like_raw_dicom`). Whatever
goes wrong (missing file, directory, permissions, empty or damaged file,
decoder failure, absurd size) is raised as :class:`ImageReadError` and as
nothing else.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from squid_core.io.dicom_io import has_dicom_preamble, looks_like_raw_dicom, read_dicom
from squid_core.io.errors import ImageReadError
from squid_core.io.guards import DEFAULT_MAX_PIXELS
from squid_core.io.image_data import ImageData
from squid_core.io.raster_io import read_raster, sniff_format

#: How many leading bytes :func:`detect_format` looks at.
HEAD_BYTES = 132


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of ``path``, with OS errors mapped to :class:`ImageReadError`.

    Only regular files are opened: reading a pipe or a device could block forever.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ImageReadError("this is a folder, not a file (open it as a folder instead)", path)
        if not stat.S_ISREG(mode):
            raise ImageReadError("not a regular file (a device, pipe or socket)", path)
        with path.open("rb") as f:
            return f.read(n)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError("file not found", path) from None
    except PermissionError:
        raise ImageReadError(
            "permission denied: the file cannot be read with your rights", path
        ) from None
    except IsADirectoryError:
        raise ImageReadError(
            "this is a folder, not a file (open it as a folder instead)", path
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise ImageReadError("file name too long", path) from None
        raise ImageReadError(f"cannot read the file: {exc.strerror or exc}", path) from None
    except (ValueError, TypeError) as exc:  # e.g. an embedded NUL in the path
        raise ImageReadError(f"invalid file name: {exc}", path) from None


def detect_format(head: bytes) -> str | None:
    """The format from the first bytes: "DICOM", "DICOM-raw" (no preamble), "PNG", "JPEG", "TIFF" or None."""
    if has_dicom_preamble(head):
        return "DICOM"
    raster = sniff_format(head)
    if raster is not None:
        return raster
    if looks_like_raw_dicom(head):
        return "DICOM-raw"
    return None


def read_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read a DICOM, PNG, JPEG or TIFF file into display-ready :class:`ImageData`.

    Args:
        path: the file to read.
        max_pixels: refuse images declaring more samples (rows x columns x
            frames x samples per pixel) than this, before allocating them.

    Returns:
        ImageData with ``pixels`` (float32 [0, 1], display space), ``values``
        (after the Modality LUT), ``meta``, ``header`` and ``path``.

    Raises:
        ImageReadError: for any input that cannot be shown; ``str(error)`` is for the user.
    """
    try:
        path = Path(path)
    except TypeError as exc:
        raise ImageReadError(f"invalid path: {exc}") from None
    try:
        head = read_head(path)
        if not head:
            raise ImageReadError("file is empty", path)
        fmt = detect_format(head)
        if fmt == "DICOM":
            return read_dicom(path, max_pixels=max_pixels)
        if fmt == "DICOM-raw":
            return read_dicom(path, force=True, max_pixels=max_pixels)
        if fmt in ("PNG", "JPEG", "TIFF"):
            return read_raster(path, max_pixels=max_pixels)
        if len(head) < HEAD_BYTES and head.startswith(b"\x00" * min(len(head), 128)):
            raise ImageReadError("file is truncated (shorter than a DICOM preamble)", path)
        raise ImageReadError(
            "not an image: unrecognised file format (expected DICOM, PNG, JPEG or TIFF)", path
        )
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError("image too large: not enough memory to read it", path) from None
    except RecursionError:
        raise ImageReadError("damaged file: nesting too deep to parse", path) from None
    except Exception as exc:  # the boundary: nothing but ImageReadError leaves read_image
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ImageReadError(
            f"cannot read the file ({type(exc).__name__}{': ' + detail if detail else ''})", path
        ) from exc
