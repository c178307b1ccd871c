"""Pure display and session logic of the viewer (no window needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from squid_core.session.catalog import Catalog, Entry, ScoreSummary, csv_rows
from viewer.display import (
    ValueMapping,
    ViewState,
    Window,
    heatmap_rgba,
    orient,
    to_source,
    window_presets,
)


@pytest.mark.parametrize("rotation", range(4))
@pytest.mark.parametrize("flip_h", [False, True])
@pytest.mark.parametrize("flip_v", [False, True])
def test_to_source_inverts_orient(rotation: int, flip_h: bool, flip_v: bool) -> None:
    src = np.arange(5 * 7).reshape(5, 7)
    state = ViewState(rotation=rotation, flip_h=flip_h, flip_v=flip_v)
    shown = orient(src, state)
    for r in range(shown.shape[0]):
        for c in range(shown.shape[1]):
            sr, sc = to_source(r, c, src.shape, state)
            assert src[sr, sc] == shown[r, c]


def test_rotation_is_clockwise() -> None:
    src = np.array([[1, 2], [3, 4]])
    assert orient(src, ViewState(rotation=1)).tolist() == [[3, 1], [4, 2]]


def test_value_mapping_follows_monochrome1_polarity() -> None:
    values = np.linspace(0, 4095, 64 * 64, dtype=np.float32).reshape(64, 64)
    pixels = 1.0 - values / 4095.0  # MONOCHROME1: high values dark
    mapping = ValueMapping.fit(pixels, values)
    assert not mapping.increasing
    assert mapping.to_values(np.array([0.0, 1.0])) == pytest.approx([4095, 0], abs=40)


def test_presets_file_windows_first_then_auto_lung_bone() -> None:
    class W:
        center, width, name = 1500.0, 3000.0, "Chest"

    values = np.random.default_rng(0).normal(2000, 500, (50, 50)).astype(np.float32)
    presets = window_presets(values, [W()], increasing=True)
    assert [p.name for p in presets] == ["Chest", "Auto", "Lung", "Bone"]
    assert presets[0].levels == (0.0, 3000.0)
    assert presets[2].center < presets[3].center  # lung darker than bone


def test_heatmap_scale_is_fixed_and_threshold_hides() -> None:
    lut = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)
    small = heatmap_rgba(np.full((2, 2), 1.0), lut, scale_max=4.0, threshold=0.5, opacity=1.0)
    big = heatmap_rgba(np.array([[1.0, 4.0], [0.2, np.nan]]), lut, 4.0, 0.5, 0.5)
    # The same value gets the same colour whatever else is in the image.
    assert small[0, 0, 0] == big[0, 0, 0] == round(255 / 4)
    assert big[0, 1, 0] == 255
    assert big[1, 0, 3] == 0 and big[1, 1, 3] == 0  # below threshold, NaN: hidden
    assert big[0, 0, 3] == 128


def test_window_drag_keeps_width_positive() -> None:
    w = Window(100.0, 50.0).dragged(-500.0, 10.0)
    assert w.width > 0 and w.center == 110.0


def _summary(score: float) -> ScoreSummary:
    return ScoreSummary(score, 0.0, score >= 50, "balanced", 50.0, "m", "1", "cpu", 0.1)


def test_worklist_sorts_by_score_and_never_drops() -> None:
    cat = Catalog()
    cat.add([Entry(Path(f"/x/{i}.png")) for i in range(5)])
    cat.set_summary("/x/1.png", _summary(10.0))
    cat.set_summary("/x/3.png", _summary(90.0))
    cat.set_summary("/x/4.png", _summary(0.0))
    order = [e.path.name for e in cat.worklist()]
    assert order[:3] == ["3.png", "1.png", "4.png"]
    assert sorted(order) == [f"{i}.png" for i in range(5)]
    rows = csv_rows(cat)
    assert len(rows) == 5 and rows[0]["score"] == 90.0 and "score" not in rows[-1]
