"""The whole shared DICOM conformance set (skipped when ../shared is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from test_io_helpers import SHARED, SHARED_DICOM, dicom_files, lung_vs_mediastinum

from squid_core.io import ImageReadError, read_image

pytestmark = pytest.mark.skipif(not SHARED_DICOM.is_dir(), reason="../shared/data/dicom is absent")

BROKEN = {"966.dcm", "RG2_JPLY.dcm"}
RG1 = {
    "uncompressed": "pydicom_data_wheel/RG1_UNCR.dcm",
    "j2k_lossless": "pydicom_data_wheel/RG1_J2KR.dcm",
    "rle": "derived/RG1_RLE_derived.dcm",
    "j2k_lossy": "pydicom_data_wheel/RG1_J2KI.dcm",
    "jpegls_near_lossless": "pylibjpeg_data/RG1_JLSN.dcm",
}


@pytest.fixture(scope="module")
def rg1():
    if not SHARED_DICOM.is_dir():
        pytest.skip("../shared/data/dicom is absent")
    return {k: read_image(SHARED_DICOM / v).pixels for k, v in RG1.items()}


def _files():
    return dicom_files(SHARED_DICOM) if SHARED_DICOM.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_every_shared_dicom_reads(path):
    if path.name in BROKEN:
        with pytest.raises(ImageReadError, match="the compressed image data is damaged"):
            read_image(path)
        return
    img = read_image(path)
    assert img.pixels.dtype == np.float32 and 0 <= img.pixels.min() and img.pixels.max() <= 1
    assert float(img.pixels.std()) > 0.01


def test_rg1_lossless_encodings_identical(rg1):
    for key in ("j2k_lossless", "rle"):
        np.testing.assert_array_equal(rg1[key], rg1["uncompressed"], err_msg=key)


def test_rg1_lossy_encodings_close(rg1):
    for key in ("j2k_lossy", "jpegls_near_lossless"):
        mad = float(np.abs(rg1[key] - rg1["uncompressed"]).mean())
        assert mad < 0.01, (key, mad)


def test_rg1_shows_dark_air(rg1):
    lungs, mediastinum = lung_vs_mediastinum(rg1["uncompressed"])
    assert lungs < mediastinum - 0.1


def test_966_fixed_shows_dark_air():
    """MONOCHROME1 with Presentation LUT INVERSE: one inversion, lungs darker than mediastinum."""
    px = read_image(SHARED_DICOM / "pylibjpeg_data/966_fixed.dcm").pixels
    lungs, mediastinum = lung_vs_mediastinum(px)
    assert lungs < mediastinum - 0.1


def test_fake_monochrome1_equals_one_minus_original():
    folder = SHARED_DICOM / "torchxrayvision"
    original = read_image(folder / "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")
    fake = read_image(folder / "Fake_MONOHR1.dcm")
    assert np.abs(fake.pixels - (1.0 - original.pixels)).max() < 1.5 / 255


def test_mismatched_window_is_usable():
    px = read_image(SHARED_DICOM / "pylibjpeg_data/JPEG2KLossless_1s_1f_u_16_16.dcm").pixels
    saturated = float(np.mean(px <= 0) + np.mean(px >= 1))
    assert float(px.std()) > 0.1 and saturated < 0.05


def test_shared_chest_samples_read():
    folder = SHARED / "data" / "cxr_samples"
    if not folder.is_dir():
        pytest.skip("../shared/data/cxr_samples is absent")
    paths = sorted(folder.glob("*.png")) + sorted(folder.glob("*.jpg"))
    assert len(paths) >= 6, f"expected the chest samples in {folder}, found {len(paths)}"
    for path in paths:
        img = read_image(path)
        assert img.pixels.ndim == 2 and float(img.pixels.std()) > 0.05
