"""DICOM reading on the committed test files: pipeline, metadata, errors."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from test_io_helpers import DICOM, EXPECTED_FAILURES, dicom_files, lung_vs_mediastinum

from squid_core.io import ImageData, ImageReadError, read_image


def _assert_valid(img: ImageData) -> None:
    assert img.pixels.dtype == np.float32 and img.values.dtype == np.float32
    assert img.pixels.shape == img.values.shape
    assert img.pixels.ndim in (2, 3)
    assert np.isfinite(img.pixels).all()
    assert img.pixels.min() >= 0.0 and img.pixels.max() <= 1.0


@pytest.mark.parametrize("path", dicom_files(DICOM), ids=lambda p: p.name)
def test_every_committed_dicom_reads_or_fails_clearly(path):
    if path.name == "DICOMDIR":
        with pytest.raises(ImageReadError, match="DICOMDIR"):
            read_image(path)
        return
    if path.name in EXPECTED_FAILURES:
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        assert EXPECTED_FAILURES[path.name] in str(info.value)
        assert path.name in str(info.value)
        return
    img = read_image(path)
    _assert_valid(img)
    assert img.meta.is_dicom
    assert img.header is not None and "PixelData" not in img.header
    assert img.meta.rows == img.pixels.shape[-2] and img.meta.columns == img.pixels.shape[-1]


def test_broken_files_have_actionable_messages():
    with pytest.raises(
        ImageReadError, match=r"966\.dcm: the compressed image data is damaged \(JPEG 2000"
    ):
        read_image(DICOM / "966.dcm")
    with pytest.raises(ImageReadError, match=r"damaged \(JPEG Extended"):
        read_image(DICOM / "RG2_JPLY.dcm")


def test_monochrome1_fake_is_one_minus_original():
    original = read_image(DICOM / "SIIM_CR_chest.dcm").pixels
    fake = read_image(DICOM / "Fake_MONOHR1.dcm").pixels
    assert fake.shape == original.shape == (1024, 1024)
    assert np.abs(fake - (1.0 - original)).max() < 1.5 / 255


def test_siim_chest_shows_dark_lungs():
    lungs, mediastinum = lung_vs_mediastinum(read_image(DICOM / "SIIM_CR_chest.dcm").pixels)
    assert lungs < mediastinum - 0.2


def test_monochrome1_with_presentation_inverse_inverts_once():
    """dx_image.dcm: MONOCHROME1 + Presentation LUT Shape INVERSE: one inversion, low values white."""
    img = read_image(DICOM / "dx_image.dcm")
    assert img.meta.photometric == "MONOCHROME1"
    w = img.meta.windows[0]
    assert (w.center, w.width) == (128.0, 256.0)
    windowed = np.clip((img.values - (w.center - 0.5)) / (w.width - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(img.pixels, 1.0 - windowed, atol=1e-6)
    assert img.meta.spacing_source == "PixelSpacing"


def test_imager_pixel_spacing_is_recorded():
    img = read_image(DICOM / "dicomdir_CR1_6154.dcm")
    assert img.meta.spacing_source == "ImagerPixelSpacing"
    assert img.meta.pixel_spacing_mm is not None and all(v > 0 for v in img.meta.pixel_spacing_mm)
    # rescale slope/intercept is applied to values; windows are in those units
    ds = pydicom.dcmread(DICOM / "dicomdir_CR1_6154.dcm")
    raw = ds.pixel_array.astype(np.float32)
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    np.testing.assert_allclose(img.values, raw * slope + intercept, rtol=1e-5)
    assert img.meta.windows[0].center == pytest.approx(float(ds.WindowCenter))


def test_modality_lut_sequence_is_applied():
    ds = pydicom.dcmread(DICOM / "mlut_18.dcm")
    img = read_image(DICOM / "mlut_18.dcm")
    item = ds.ModalityLUTSequence[0]
    n, first, _bits = item.LUTDescriptor
    table = np.asarray(item.LUTData, dtype=np.float32)
    raw = ds.pixel_array.astype(np.int64)
    if first > 32767 and ds.PixelRepresentation == 1:
        first -= 65536
    expected = table[np.clip(raw - first, 0, len(table) - 1)]
    np.testing.assert_array_equal(img.values, expected)


def test_voi_lut_sequence_is_applied():
    ds = pydicom.dcmread(DICOM / "vlut_04.dcm")
    img = read_image(DICOM / "vlut_04.dcm")
    item = ds.VOILUTSequence[0]
    n, first, bits = item.LUTDescriptor
    table = np.asarray(item.LUTData, dtype=np.float64)
    raw = ds.pixel_array.astype(np.int64)
    expected = table[np.clip(raw - first, 0, len(table) - 1)] / (2**bits - 1)
    np.testing.assert_allclose(img.pixels, expected, atol=1e-6)


def test_multiframe_shape_and_frames():
    img = read_image(DICOM / "emri_small_RLE.dcm")
    assert img.pixels.shape == (10, 64, 64) and img.meta.frames == 10 and img.n_frames == 10
    same = read_image(DICOM / "emri_small_jpeg_ls_lossless.dcm")
    np.testing.assert_array_equal(img.pixels, same.pixels)  # RLE == JPEG-LS lossless


@pytest.mark.parametrize(
    "name, frames",
    [("SC_rgb_rle_2frame.dcm", 2), ("examples_ybr_color.dcm", 30), ("OBXXXX1A_rle_2frame.dcm", 2)],
)
def test_colour_becomes_grey(name, frames):
    img = read_image(DICOM / name)
    assert img.pixels.ndim == 3 and img.pixels.shape[0] == frames
    assert img.pixels.std() > 0.02


def test_rgb_uses_bt601_luma():
    ds = pydicom.dcmread(DICOM / "SC_rgb_rle_2frame.dcm")
    rgb = ds.pixel_array.astype(np.float64)
    luma = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255
    np.testing.assert_allclose(read_image(DICOM / "SC_rgb_rle_2frame.dcm").pixels, luma, atol=1e-5)


def test_mismatched_window_falls_back_to_robust_window():
    img = read_image(DICOM / "JPEG2KLossless_1s_1f_u_16_16.dcm")
    px = img.pixels
    saturated = float(np.mean(px <= 0.0) + np.mean(px >= 1.0))
    assert 0.1 < float(px.std()) and saturated < 0.05
    assert (
        img.meta.windows and img.meta.windows[0].width == 5310
    )  # the stored window is still listed


def test_file_without_preamble_reads(tmp_path):
    """An implicit-VR data set with neither preamble nor file meta is still recognised."""
    ds = pydicom.dcmread(DICOM / "MR_small_RLE.dcm")
    ds.decompress()
    expected = read_image(DICOM / "MR_small_RLE.dcm").pixels
    del ds.file_meta
    ds.preamble = None
    out = tmp_path / "no_preamble"
    ds.save_as(out, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert open(out, "rb").read(132)[128:132] != b"DICM"
    img = read_image(out)
    assert img.meta.is_dicom and img.meta.transfer_syntax == "1.2.840.10008.1.2"
    np.testing.assert_array_equal(img.pixels, expected)


def test_metadata_fields():
    img = read_image(DICOM / "SIIM_CR_chest.dcm")
    m = img.meta
    assert m.modality == "CR" and m.body_part == "CHEST"
    assert m.photometric == "MONOCHROME2" and m.bits_stored == 8
    assert m.transfer_syntax == "1.2.840.10008.1.2.4.50"
    assert m.study_uid and m.series_uid and m.sop_instance_uid and m.sop_class_uid
    assert (m.rows, m.columns, m.frames) == (1024, 1024, 1)


def test_header_is_a_dataset_without_pixels():
    img = read_image(DICOM / "MR_small_RLE.dcm")
    assert isinstance(img.header, pydicom.Dataset)
    assert "PixelData" not in img.header and "PatientName" in img.header


def test_jpeg2000_lossless_matches_rle():
    j2k = read_image(DICOM / "MR_small_jp2klossless.dcm").values
    rle = read_image(DICOM / "MR_small_RLE.dcm").values
    np.testing.assert_array_equal(j2k, rle)
