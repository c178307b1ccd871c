"""The bundled demo studies: what the main job opens must read as the model expects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from squid_core.io import read_image

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"
ZHANGLAB = sorted(DEMO.glob("zhanglab_*.dcm"))


def test_the_demo_holds_the_four_zhanglab_studies():
    assert [p.name for p in ZHANGLAB] == [
        "zhanglab_normal_1.dcm",
        "zhanglab_normal_2.dcm",
        "zhanglab_pneumonia_1.dcm",
        "zhanglab_pneumonia_2.dcm",
    ]


@pytest.mark.parametrize("path", ZHANGLAB, ids=lambda p: p.name)
def test_zhanglab_demo_dicoms_read_exactly_like_their_source_jpegs(path):
    """They wrap 8-bit display images (the model was trained on the JPEGs, read as x / 255).

    Without a window of their own the viewer's robust percentile window would stretch
    them, and a normal study scored 82.6 (flagged) instead of its JPEG's 75.2.
    """
    ds = pydicom.dcmread(path)
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (128.0, 256.0)
    stored = ds.pixel_array.astype(np.float32)
    pixels = read_image(path).pixels
    np.testing.assert_allclose(pixels, stored / 255.0, atol=1e-6)
    # and the data is not already full-range, so a percentile window would change it
    assert np.percentile(stored, 0.5) > 0 or np.percentile(stored, 99.5) < 255
