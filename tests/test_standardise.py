"""Histogram-matching intensity standardisation (squid_core.scoring.standardise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from squid_core.io import read_image
from squid_core.scoring.nuisance import gamma, zoom_in
from squid_core.scoring.standardise import match_histogram, reference_quantiles

VAL = Path(__file__).parent / "data" / "zhanglab_val"


def _images(folder: Path) -> list[np.ndarray]:
    out = []
    for f in sorted(folder.iterdir()):
        px = read_image(f).pixels
        out.append(px[0] if px.ndim == 3 else px)
    return out


def test_matching_undoes_exposure_but_not_framing():
    normals = _images(VAL / "normal")
    ref = reference_quantiles(normals)
    assert ref.shape == (257,) and np.all(np.diff(ref) >= 0)
    chest = normals[0]
    matched = match_histogram(chest, ref)
    # the result has the reference's quantiles ...
    np.testing.assert_allclose(np.quantile(matched, [0.1, 0.5, 0.9]),
                               np.interp([0.1, 0.5, 0.9], np.linspace(0, 1, 257), ref),
                               atol=0.02)
    # ... and brighter / darker exposures of one chest come out the same
    for g in (0.7, 1.4):
        np.testing.assert_allclose(match_histogram(gamma(chest, g), ref), matched, atol=1e-6)
    # a tighter crop is another picture, not another exposure: it stays different
    assert np.abs(match_histogram(zoom_in(chest, 1.25), ref) - matched).mean() > 0.05


def test_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        reference_quantiles([])
    with pytest.raises(ValueError, match="2-D"):
        match_histogram(np.zeros((2, 3, 3)), np.linspace(0, 1, 5))
