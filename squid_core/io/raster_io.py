"""PNG, JPEG and TIFF reading: grey values scaled by bit depth, colour to grey.

Formats are recognised by their magic bytes (:func:`sniff_format`), not by the
file extension. Pixel values are scaled to [0, 1] by the full scale of their
bit depth (255 for 8 bits, 65535 for 16, 1 for 1-bit), never by the image's own
min/max, so that the model sees the brightness the file holds; floating-point
TIFFs have no bit depth and are used as they are when inside [0, 1], else
scaled by their min/max. Colour (RGB, RGBA, palette, CMYK, YCbCr) becomes grey
with the ITU-R BT.601 luma weights; alpha is dropped (a radiograph's content is
in its colour channels). JPEG EXIF orientation is applied. Multi-page files
give their first page.

Decoders: Pillow for everything it reads losslessly; OpenCV for 16-bit colour
PNG (Pillow reduces it to 8 bits); tifffile for TIFF first (any bit depth and
sample layout), with Pillow as the fallback.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from squid_core.io.display_pipeline import rgb_to_grey
from squid_core.io.errors import ImageReadError
from squid_core.io.guards import DEFAULT_MAX_PIXELS, check_declared_size, pillow_guard
from squid_core.io.image_data import ImageData, ImageMetadata

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)

#: EXIF orientations that swap rows and columns.
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


def sniff_format(head: bytes) -> str | None:
    """The format of a file from its first bytes: "PNG", "JPEG", "TIFF", or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def png_bit_depth(head: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None when absent."""
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _pillow_error(exc: BaseException, fmt: str, path: Path) -> ImageReadError:
    """Map a Pillow / OpenCV / tifffile failure to a user-facing error."""
    if isinstance(exc, ImageReadError):
        return exc
    if isinstance(exc, MemoryError):
        return ImageReadError("image too large: not enough memory to decode it", path)
    text = str(exc).strip()
    if isinstance(exc, Image.UnidentifiedImageError):
        return ImageReadError(f"not an image: the {fmt} data cannot be identified", path)
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return ImageReadError("file is truncated", path)
    detail = text.splitlines()[0][:200] if text else type(exc).__name__
    return ImageReadError(f"damaged {fmt} file: {detail}", path)


def _scale_float(values: np.ndarray) -> np.ndarray:
    """Floating-point samples to [0, 1]: as they are when inside [0, 1], else by min/max."""
    values = np.nan_to_num(values.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if lo >= 0.0 and hi <= 1.0:
        return values
    if hi <= lo:
        return np.zeros_like(values)
    return (values - np.float32(lo)) / np.float32(hi - lo)


def _grey_from_array(
    arr: np.ndarray, bits: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, pixels, bits) from a decoded (H, W) or (H, W, S) integer or float array.

    ``bits`` overrides the bit depth implied by the dtype (e.g. 12-bit TIFF samples).
    """
    if arr.ndim == 3:
        if arr.shape[-1] >= 3:
            grey = rgb_to_grey(arr)
        else:
            grey = arr[..., 0].astype(np.float32)
    else:
        grey = arr.astype(np.float32)
    if arr.dtype.kind == "f":
        return grey, _scale_float(grey), 32
    if arr.dtype == bool:
        return grey, grey.copy(), 1
    depth = bits or 8 * arr.dtype.itemsize
    if arr.dtype.kind == "i":
        grey = np.clip(grey, 0, None)
    full = np.float32(2.0**depth - 1.0)
    return grey, np.clip(grey / full, 0.0, 1.0), depth


def _grey_from_pillow(
    img: Image.Image, png_depth: int | None
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(values, pixels, bits, photometric) from a loaded Pillow image of any mode."""
    mode = img.mode
    if mode == "1":
        arr = np.asarray(img, dtype=bool)
        values = arr.astype(np.float32)
        return values, values.copy(), 1, "MONOCHROME2"
    if mode in ("L", "LA", "La"):
        arr = np.asarray(img.getchannel(0))
        return arr.astype(np.float32), arr.astype(np.float32) / np.float32(255.0), 8, "MONOCHROME2"
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.float32)
        return arr, arr / np.float32(65535.0), 16, "MONOCHROME2"
    if mode == "I":
        arr = np.asarray(img).astype(np.float32)
        bits = 16 if (png_depth == 16 or float(arr.max(initial=0)) <= 65535.0) else 32
        arr = np.clip(arr, 0, None)
        return arr, np.clip(arr / np.float32(2.0**bits - 1.0), 0.0, 1.0), bits, "MONOCHROME2"
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        return arr, _scale_float(arr), 32, "MONOCHROME2"
    photometric = "PALETTE COLOR" if mode in ("P", "PA") else "RGB"
    rgb = np.asarray(img.convert("RGB"))
    values = rgb_to_grey(rgb)
    return values, values / np.float32(255.0), 8, photometric


def _metadata(rows: int, cols: int, bits: int, photometric: str, fmt: str) -> ImageMetadata:
    """Metadata of a raster image: geometry and format only (no patient data)."""
    return ImageMetadata(
        photometric=photometric,
        rows=int(rows),
        columns=int(cols),
        frames=1,
        bits_stored=int(bits),
        transfer_syntax=fmt,
        is_dicom=False,
    )


class _DropAll(logging.Filter):
    """A logging filter that drops every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _read_tiff_tifffile(
    path: Path, max_pixels: int
) -> tuple[np.ndarray, np.ndarray, int, str] | None:
    """Read the first page of a TIFF with tifffile; None when tifffile cannot (Pillow then tries)."""
    import tifffile

    logger = logging.getLogger("tifffile")
    silence = _DropAll()
    logger.addFilter(silence)  # its complaints about damaged files are reported as our error
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            shape = tuple(int(s) for s in page.shape)
            samples = int(np.prod(shape[2:])) if len(shape) > 2 else 1
            if len(shape) < 2:
                return None
            check_declared_size(shape[0], shape[1], 1, samples, max_pixels=max_pixels, path=path)
            arr = page.asarray()
            bits = int(page.bitspersample)
            photometric_tag = int(page.photometric) if page.photometric is not None else 1
            colormap = page.colormap
    except ImageReadError:
        raise
    except Exception:  # unsupported compression or layout: let Pillow try
        return None
    finally:
        logger.removeFilter(silence)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration
    if arr.ndim not in (2, 3):
        return None
    if photometric_tag == 3 and colormap is not None and arr.ndim == 2:  # palette
        cmap = np.asarray(colormap, dtype=np.float32)  # (3, N), 16-bit entries
        index = np.clip(arr.astype(np.intp), 0, cmap.shape[1] - 1)
        rgb = np.stack([cmap[c][index] for c in range(3)], axis=-1)
        values = rgb_to_grey(rgb)
        return values, np.clip(values / np.float32(65535.0), 0.0, 1.0), 16, "PALETTE COLOR"
    values, pixels, depth = _grey_from_array(arr, bits if arr.dtype.kind in "ui" else None)
    if photometric_tag == 0 and arr.ndim == 2:  # MinIsWhite: 0 is white, invert for display
        pixels = 1.0 - pixels
    photometric = "RGB" if arr.ndim == 3 and arr.shape[-1] >= 3 else "MONOCHROME2"
    return values, pixels.astype(np.float32), depth, photometric


def read_raster(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read a PNG, JPEG or TIFF file to :class:`ImageData` (see the module docstring).

    Raises:
        ImageReadError: for every kind of unreadable input.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise ImageReadError(f"cannot read the file: {exc.strerror or exc}", path) from None
    fmt = sniff_format(head)
    if fmt is None:
        raise ImageReadError("not an image: unrecognised file format", path)
    try:
        result = None
        if fmt == "TIFF":
            result = _read_tiff_tifffile(path, max_pixels)
        ihdr = png_bit_depth(head) if fmt == "PNG" else None
        if result is None and ihdr is not None and ihdr[0] == 16 and ihdr[1] in (2, 6):
            result = _read_png16_colour(path, head, max_pixels)
        if result is None:
            with pillow_guard(path, max_pixels), Image.open(path) as img:
                check_declared_size(
                    img.height, img.width, 1, len(img.getbands()), max_pixels=max_pixels, path=path
                )
                img.load()
                if fmt == "JPEG":
                    img = ImageOps.exif_transpose(img) or img
                result = _grey_from_pillow(img, ihdr[0] if ihdr else None)
    except Exception as exc:  # every decoder failure becomes an ImageReadError
        raise _pillow_error(exc, fmt, path) from None
    values, pixels, bits, photometric = result
    meta = _metadata(pixels.shape[0], pixels.shape[1], bits, photometric, fmt)
    meta.colour = photometric in ("RGB", "PALETTE COLOR") and channels_differ(path, max_pixels)
    return ImageData(
        pixels=np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32),
        values=np.ascontiguousarray(values, dtype=np.float32),
        meta=meta,
        header=None,
        path=path,
    )


#: A colour file is colour when more than 1 % of its pixels have channels that differ by
#: more than 16 of 255 levels (a grey radiograph saved as RGB or JPEG has none).
_COLOUR_LEVELS, _COLOUR_FRACTION = 16, 0.01


def channels_differ(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """Whether a colour-typed raster file really holds colour, judged on a reduced copy
    (JPEG draft mode, at most 256 px) so it costs little."""
    try:
        with pillow_guard(path, max_pixels), Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (256, 256))
            img.thumbnail((256, 256))
            rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    except Exception:  # the pixels were read once already: treat as grey if not now
        return False
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    return bool(np.mean(spread > _COLOUR_LEVELS) > _COLOUR_FRACTION)


def _read_png16_colour(
    path: Path, head: bytes, max_pixels: int
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """A 16-bit RGB(A) PNG with OpenCV (Pillow would reduce it to 8 bits); size checked first."""
    import cv2

    width, height = struct.unpack(">II", head[16:24])
    check_declared_size(height, width, 1, 4, max_pixels=max_pixels, path=path)
    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageReadError("damaged PNG file: cannot decode the 16-bit colour data", path)
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0]] if arr.shape[-1] >= 3 else arr  # BGR(A) -> RGB
    values, pixels, bits = _grey_from_array(arr, 16 if arr.dtype == np.uint16 else None)
    return values, pixels, bits, "RGB"


def raster_metadata(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageMetadata:
    """Metadata of a PNG, JPEG or TIFF from its header only (Pillow's lazy open).

    Raises:
        ImageReadError: not a readable raster image, or an absurd declared size.
    """
    path = Path(path)
    fmt = "image"
    try:
        with path.open("rb") as f:
            head = f.read(64)
        fmt = sniff_format(head) or "image"
        if fmt == "image":
            raise ImageReadError("not an image: unrecognised file format", path)
        with pillow_guard(path, max_pixels), Image.open(path) as img:
            rows, cols = img.height, img.width
            check_declared_size(
                rows, cols, 1, len(img.getbands()), max_pixels=max_pixels, path=path
            )
            mode = img.mode
            if fmt == "JPEG":
                orientation = img.getexif().get(0x0112, 1)
                if orientation in _TRANSPOSING_ORIENTATIONS:
                    rows, cols = cols, rows
    except Exception as exc:  # every failure becomes an ImageReadError
        raise _pillow_error(exc, fmt, path) from None
    bits = {"1": 1, "I": 32, "F": 32}.get(mode, 16 if mode.startswith("I;16") else 8)
    ihdr = png_bit_depth(head) if fmt == "PNG" else None
    if ihdr is not None:
        bits = ihdr[0]
    photometric = {"P": "PALETTE COLOR", "PA": "PALETTE COLOR"}.get(
        mode,
        "MONOCHROME2" if mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16") else "RGB",
    )
    return _metadata(rows, cols, bits, photometric, fmt)
