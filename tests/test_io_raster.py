"""PNG, JPEG and TIFF in every mode: scaled by bit depth, colour to grey, EXIF orientation."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image
from test_io_helpers import IMAGES

from squid_core.io import ImageReadError, read_image


@pytest.fixture(scope="module")
def grey8() -> np.ndarray:
    """A real 8-bit chest radiograph (NIH), 512 x 512."""
    return np.asarray(Image.open(IMAGES / "NIH_00027426_000.png").convert("L"))


def test_grey_png_scaled_by_bit_depth(grey8):
    img = read_image(IMAGES / "NIH_00027426_000.png")
    np.testing.assert_allclose(img.pixels, grey8 / 255.0, atol=1e-6)
    np.testing.assert_array_equal(img.values, grey8.astype(np.float32))
    assert img.meta.bits_stored == 8 and not img.meta.is_dicom and img.header is None


def test_sixteen_bit_png_keeps_precision():
    raw = np.asarray(Image.open(IMAGES / "RG1_chest_16bit.png")).astype(np.float64)
    img = read_image(IMAGES / "RG1_chest_16bit.png")
    assert img.meta.bits_stored == 16
    np.testing.assert_allclose(img.pixels, raw / 65535.0, atol=1e-6)
    assert len(np.unique(img.pixels)) > 256


def test_rgb_png_to_bt601_luma():
    rgb = np.asarray(Image.open(IMAGES / "TBX11K_h0001.png").convert("RGB")).astype(np.float64)
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    img = read_image(IMAGES / "TBX11K_h0001.png")
    assert img.pixels.shape == rgb.shape[:2] and img.meta.photometric == "RGB"
    np.testing.assert_allclose(img.pixels, luma, atol=1e-5)


def test_palette_png():
    img = read_image(IMAGES / "NIH_00027426_palette.png")
    expected = np.asarray(Image.open(IMAGES / "NIH_00027426_palette.png").convert("L")) / 255.0
    assert img.meta.photometric == "PALETTE COLOR"
    assert np.abs(img.pixels - expected).max() < 2 / 255


@pytest.mark.parametrize(
    "name",
    ["zhanglab_NORMAL_IM-0115-0001.jpeg", "zhanglab_PNEUMONIA_person1000_bacteria_2931.jpeg"],
)
def test_zhanglab_jpeg(name):
    img = read_image(IMAGES / name)
    assert img.pixels.shape == (224, 224) and img.meta.transfer_syntax == "JPEG"
    assert 0.05 < float(img.pixels.std())


@pytest.mark.parametrize(
    "mode, suffix",
    [
        ("LA", ".png"),
        ("RGBA", ".png"),
        ("1", ".png"),
        ("P", ".png"),
        ("L", ".tif"),
        ("RGB", ".tif"),
        ("L", ".jpg"),
    ],
)
def test_modes_from_a_real_image(tmp_path, grey8, mode, suffix):
    src = Image.fromarray(grey8)
    if mode == "1":
        converted = src.point(lambda v: 255 if v > 128 else 0).convert("1")
        expected = (grey8 > 128).astype(np.float64)
    else:
        converted = src.convert(mode)
        expected = grey8 / 255.0
    path = tmp_path / f"image{suffix}"
    converted.save(path)
    img = read_image(path)
    assert img.pixels.shape == grey8.shape
    tolerance = 0.06 if suffix == ".jpg" else (2 / 255 if mode == "P" else 1e-5)
    assert float(np.abs(img.pixels - expected).mean()) < tolerance


def test_sixteen_bit_tiff_and_rgb16(tmp_path):
    raw = np.asarray(Image.open(IMAGES / "RG1_chest_16bit.png")).astype(np.uint16)
    tifffile.imwrite(tmp_path / "grey16.tif", raw)
    np.testing.assert_allclose(read_image(tmp_path / "grey16.tif").pixels, raw / 65535.0, atol=1e-6)
    rgb = np.stack([raw] * 3, axis=-1)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb, photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "rgb16.tif").pixels, raw / 65535.0, atol=1e-5)


def test_sixteen_bit_colour_png(tmp_path):
    import cv2

    raw = np.asarray(Image.open(IMAGES / "RG1_chest_16bit.png")).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.stack([raw] * 3, axis=-1))
    img = read_image(tmp_path / "rgb16.png")
    assert img.meta.bits_stored == 16
    np.testing.assert_allclose(img.pixels, raw / 65535.0, atol=1e-5)


def test_pillow_i16_tiff(tmp_path):
    raw = np.asarray(Image.open(IMAGES / "RG1_chest_16bit.png"))
    Image.fromarray(raw).save(tmp_path / "i16.tif")
    np.testing.assert_allclose(read_image(tmp_path / "i16.tif").pixels, raw / 65535.0, atol=1e-6)


def test_float_tiff(tmp_path, grey8):
    unit = (grey8 / 255.0).astype(np.float32)
    tifffile.imwrite(tmp_path / "unit.tif", unit)
    np.testing.assert_allclose(read_image(tmp_path / "unit.tif").pixels, unit, atol=1e-6)
    tifffile.imwrite(tmp_path / "hu.tif", unit * 3000 - 1000)  # not in [0, 1]: min/max scaled
    px = read_image(tmp_path / "hu.tif").pixels
    assert px.min() == 0.0 and px.max() == pytest.approx(1.0)


def test_jpeg_exif_orientation(tmp_path, grey8):
    src = Image.fromarray(grey8[:, :300])  # 512 x 300, not square
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    src.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "rotated.jpg")
    assert img.pixels.shape == (300, 512)
    expected = np.rot90(grey8[:, :300], k=-1) / 255.0
    assert float(np.abs(img.pixels - expected).mean()) < 0.02


def test_format_by_content_not_extension(tmp_path):
    data = (IMAGES / "NIH_00027426_000.png").read_bytes()
    (tmp_path / "chest.dcm").write_bytes(data)
    assert read_image(tmp_path / "chest.dcm").meta.transfer_syntax == "PNG"


def _png(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A PNG header declaring the given size, with one tiny IDAT: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size, colour_type", [(100_000, 0), (20_000, 2), (12_000, 6)])
def test_png_decompression_bomb_refused(tmp_path, size, colour_type):
    (tmp_path / "bomb.png").write_bytes(_png(size, size, 8, colour_type))
    with pytest.raises(ImageReadError, match="image too large"):
        read_image(tmp_path / "bomb.png")


def test_sixteen_bit_colour_png_bomb_refused(tmp_path):
    (tmp_path / "bomb16.png").write_bytes(_png(30_000, 30_000, 16, 6))
    with pytest.raises(ImageReadError, match="image too large"):
        read_image(tmp_path / "bomb16.png")


def test_max_pixels_limit(tmp_path):
    with pytest.raises(ImageReadError, match="image too large"):
        read_image(IMAGES / "NIH_00027426_000.png", max_pixels=100_000)
