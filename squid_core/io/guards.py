"""Refuse absurd images before any memory is allocated for them.

A damaged or hostile file can declare 65535 x 65535 pixels and 1000 frames in a
few bytes of header; decoding it would exhaust memory long before any decoder
noticed the data is missing. These checks run on the declared size only:

* :func:`check_declared_size` for any image, from rows, columns, frames and
  samples per pixel, against ``max_pixels`` samples (default 2**28, which costs
  about 2 GiB once stored values and display pixels are held as float32);
* :func:`check_compression_ratio` for encapsulated DICOM, which refuses a large
  image whose compressed stream is implausibly small for it;
* :func:`pillow_guard`, a context manager that turns Pillow's decompression-bomb
  warning into an error and maps both to :class:`ImageReadError`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from squid_core.io.errors import ImageReadError

#: Default limit on the samples (rows x columns x frames x samples per pixel) of one image.
DEFAULT_MAX_PIXELS = 2**28

#: Images above this many samples must not be compressed more than MAX_COMPRESSION_RATIO : 1.
_RATIO_CHECK_MIN_SAMPLES = 2**25
MAX_COMPRESSION_RATIO = 1000.0


def check_declared_size(
    rows: int,
    columns: int,
    frames: int = 1,
    samples: int = 1,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    path: str | Path | None = None,
) -> int:
    """Return rows * columns * frames * samples, or raise if it is invalid or over the limit.

    Raises:
        ImageReadError: a dimension is zero or negative, or the product exceeds ``max_pixels``.
    """
    dims = (int(rows), int(columns), int(frames), int(samples))
    if min(dims) <= 0:
        raise ImageReadError(
            f"invalid image size declared: {dims[0]} x {dims[1]} pixels, "
            f"{dims[2]} frame(s), {dims[3]} sample(s) per pixel",
            path,
        )
    total = dims[0] * dims[1] * dims[2] * dims[3]
    if total > max_pixels:
        raise ImageReadError(
            f"image too large: {dims[0]} x {dims[1]} pixels x {dims[2]} frame(s) x "
            f"{dims[3]} sample(s) declared ({total:,} samples, limit {max_pixels:,})",
            path,
        )
    return total


def check_compression_ratio(
    samples: int, bytes_per_sample: int, encoded_bytes: int, *, path: str | Path | None = None
) -> None:
    """Refuse a large image whose encoded data is far too small to hold it.

    Real radiographs compress at most a few hundred to one even when lossy; a
    header that declares tens of millions of samples over a few kilobytes of
    data is damaged, and decoding it would allocate the declared size for nothing.
    """
    if samples < _RATIO_CHECK_MIN_SAMPLES:
        return
    ratio = samples * bytes_per_sample / max(encoded_bytes, 1)
    if ratio > MAX_COMPRESSION_RATIO:
        raise ImageReadError(
            f"image too large: {samples:,} samples declared but only {encoded_bytes:,} bytes "
            "of compressed data (the header is probably damaged)",
            path,
        )


@contextlib.contextmanager
def pillow_guard(
    path: str | Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[None]:
    """Within the block, Pillow decompression bombs raise :class:`ImageReadError`.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and raises above twice that.
    The warning is silenced here because the readers apply their own limit
    (``max_pixels``, checked with :func:`check_declared_size` right after the
    lazy open, before any pixel is decoded); the error is mapped to
    :class:`ImageReadError`. The global ``Image.MAX_IMAGE_PIXELS`` is left alone
    because other code in the process relies on it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # damaged EXIF and similar Pillow complaints: the image is judged by decoding it
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        try:
            yield
        except Image.DecompressionBombError as exc:
            raise ImageReadError(
                f"image too large: decompression bomb refused ({exc}); limit {max_pixels:,} samples",
                path,
            ) from None
