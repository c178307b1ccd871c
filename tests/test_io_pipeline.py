"""Unit tests of the display pipeline steps (DICOM PS3.3 C.11)."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from squid_core.io import display_pipeline as dp
from squid_core.io.image_data import WindowPreset


def test_linear_window_matches_standard_formula():
    x = np.arange(0, 400, dtype=np.float32)
    c, w = 200.0, 101.0
    out = dp.apply_window(x, c, w, "LINEAR")
    assert out[x <= c - 0.5 - (w - 1) / 2].max() == 0.0
    assert out[x > c - 0.5 + (w - 1) / 2].min() == 1.0
    inside = (x > c - 0.5 - (w - 1) / 2) & (x <= c - 0.5 + (w - 1) / 2)
    np.testing.assert_allclose(out[inside], ((x[inside] - (c - 0.5)) / (w - 1) + 0.5), atol=1e-6)


def test_linear_exact_and_sigmoid():
    x = np.array([0.0, 50.0, 100.0, 150.0, 200.0], dtype=np.float32)
    np.testing.assert_allclose(dp.apply_window(x, 100, 100, "LINEAR_EXACT"), [0, 0, 0.5, 1, 1])
    sig = dp.apply_window(x, 100, 100, "SIGMOID")
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-4 * (x - 100) / 100)), rtol=1e-5)
    assert np.all(np.diff(sig) > 0)


def test_first_of_several_windows_and_function():
    ds = Dataset()
    ds.WindowCenter = [40, 400]
    ds.WindowWidth = [80, 2000]
    ds.WindowCenterWidthExplanation = ["SOFT", "BONE"]
    ds.VOILUTFunction = "SIGMOID"
    presets = dp.window_presets(ds)
    assert presets == [
        WindowPreset(40, 80, "SOFT", "SIGMOID"),
        WindowPreset(400, 2000, "BONE", "SIGMOID"),
    ]


def test_window_presets_skip_invalid():
    ds = Dataset()
    ds.WindowCenter = 100
    ds.WindowWidth = 0
    assert dp.window_presets(ds) == []


def test_window_fits_detects_mismatch():
    rng = np.random.default_rng(0)
    values = rng.normal(40000, 3000, size=(200, 200)).astype(np.float32)
    assert not dp.window_fits(values, WindowPreset(2725, 5310))
    assert dp.window_fits(values, WindowPreset(40000, 12000))
    assert not dp.window_fits(values, WindowPreset(40000, 10_000_000))  # far too wide


def test_robust_window_used_when_no_window():
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    values = np.linspace(0, 1000, 10_000, dtype=np.float32).reshape(100, 100)
    values[0, 0] = 1e6  # one outlier must not squash the image
    out = dp.to_display(values, ds)
    assert 0.45 < float(np.median(out)) < 0.55


def test_modality_lut_rescale_and_sequence():
    ds = Dataset()
    ds.RescaleSlope = "2"
    ds.RescaleIntercept = "-1024"
    stored = np.array([[0, 10]], dtype=np.uint16)
    np.testing.assert_array_equal(dp.apply_modality_lut(stored, ds), [[-1024, -1004]])
    item = Dataset()
    item.LUTDescriptor = [4, 10, 16]
    item.LUTData = [100, 200, 300, 400]
    ds2 = Dataset()
    ds2.ModalityLUTSequence = [item]
    stored = np.array([5, 10, 11, 13, 99])
    np.testing.assert_array_equal(dp.apply_modality_lut(stored, ds2), [100, 100, 200, 400, 400])


def test_voi_lut_sequence_bytes_and_bits():
    item = Dataset()
    item.LUTDescriptor = [3, 0, 8]
    item.LUTData = [0, 128, 255]
    np.testing.assert_allclose(
        dp.apply_lut_item(np.array([0, 1, 2, 7]), item), [0, 128 / 255, 1, 1]
    )


@pytest.mark.parametrize(
    "photometric, shape, inverted",
    [
        ("MONOCHROME2", None, False),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", None, True),
        ("MONOCHROME1", "IDENTITY", True),
        ("MONOCHROME1", "INVERSE", True),  # the same inversion stated twice: applied once
    ],
)
def test_inversion_rules(photometric, shape, inverted):
    assert dp.needs_inversion(photometric, shape) is inverted


def test_rgb_to_grey_bt601():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(
        dp.rgb_to_grey(rgb), [[0.299 * 255, 0.587 * 255, 0.114 * 255]], rtol=1e-6
    )


def test_percentile_window_constant_image():
    lo, hi = dp.percentile_window(np.full((10, 10), 7.0, dtype=np.float32))
    assert hi > lo
