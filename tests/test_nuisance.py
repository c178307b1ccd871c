"""Acquisition nuisance transforms on a real radiograph (squid_core.scoring.nuisance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from squid_core.io import read_image
from squid_core.scoring.nuisance import (
    Nuisance,
    blur,
    contrast,
    gamma,
    noise,
    nuisance_family,
    parse_nuisance,
    sharpen,
    zoom_in,
    zoom_out,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return read_image(DATA / "zhanglab_val" / "normal" / "IM-0358-0001.jpeg").frame(0)


def test_every_transform_keeps_shape_range_and_dtype(chest):
    for nuisance in nuisance_family():
        out = nuisance.apply(chest, seed=3)
        assert out.shape == chest.shape and out.dtype == np.float32, nuisance
        assert 0.0 <= out.min() and out.max() <= 1.0, nuisance
        assert not np.allclose(out, chest), f"{nuisance.label} changed nothing"


def test_zoom_in_shows_the_centre_larger(chest):
    h, w = chest.shape
    out = zoom_in(chest, 2.0)
    centre = chest[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2]
    small = out[::2, ::2][: centre.shape[0], : centre.shape[1]]
    assert np.abs(small - centre).mean() < 0.03  # the central half, twice as large
    np.testing.assert_allclose(zoom_in(chest, 1.0), chest, atol=1e-6)


def test_zoom_out_replicates_the_edges_and_shrinks_the_image(chest):
    out = zoom_out(chest, 1.25)
    h, w = chest.shape
    border = round((h - round(h / 1.25)) / 2)
    # the top rows are copies of the first row of the shrunken image: no black frame
    np.testing.assert_allclose(out[0], out[border], atol=1e-6)
    assert out[0].mean() > 0.05
    # its centre is the whole image at 1/1.25 of the size
    inner = out[border: border + round(h / 1.25), border: border + round(w / 1.25)]
    assert abs(float(inner.mean()) - float(chest.mean())) < 0.02
    np.testing.assert_allclose(zoom_out(chest, 1.0), chest, atol=1e-6)


def test_gamma_and_contrast_move_intensities_the_stated_way(chest):
    mid = (chest > 0.2) & (chest < 0.8)
    assert np.all(gamma(chest, 0.8)[mid] > chest[mid])  # brighter
    assert np.all(gamma(chest, 1.25)[mid] < chest[mid])  # darker
    c = contrast(chest, 1.2)
    assert c.std() > chest.std()
    assert contrast(chest, 0.8).std() < chest.std()
    np.testing.assert_allclose(contrast(chest, 1.0), chest, atol=1e-6)


def test_blur_softens_sharpen_crisps_and_noise_is_seeded(chest):
    def edges(a):
        return float(np.abs(np.diff(a, axis=1)).mean())

    assert edges(blur(chest, 0.01)) < edges(chest) < edges(sharpen(chest, 1.0))
    a, b, c = noise(chest, 0.03, seed=1), noise(chest, 0.03, seed=1), noise(chest, 0.03, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(float((a - chest).std()) - 0.03) < 0.005


def test_bad_strengths_and_names_are_refused_clearly():
    with pytest.raises(ValueError, match="zoom_in needs"):
        Nuisance("zoom_in", 0.8)
    with pytest.raises(ValueError, match="unknown nuisance 'rotate'"):
        parse_nuisance("rotate=5")
    with pytest.raises(ValueError, match="KIND=STRENGTH"):
        parse_nuisance("gamma")
    with pytest.raises(ValueError, match="not a number"):
        parse_nuisance("gamma=bright")
    with pytest.raises(ValueError, match="2-D"):
        gamma(np.zeros((3, 4, 4)), 0.8)
    assert parse_nuisance("gamma=0.8") == Nuisance("gamma", 0.8)
    assert Nuisance("zoom_in", 1.15).description.startswith("zoom in 15 % (crop 6.5 % per side")


def test_the_family_holds_the_issue_five_at_several_strengths():
    kinds = {}
    for n in nuisance_family():
        kinds.setdefault(n.kind, []).append(n.strength)
    for kind in ("zoom_in", "zoom_out", "gamma", "contrast"):
        assert len(kinds[kind]) >= 3, kind
    assert 1.15 in kinds["zoom_in"] and 1.10 in kinds["zoom_out"]
    assert {0.8, 1.25} <= set(kinds["gamma"]) and 1.2 in kinds["contrast"]
