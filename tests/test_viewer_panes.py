"""The three panes act as one: window/level, presets, orientation, read-out."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from squid_core.display import COLORMAPS, OverlaySettings, Window
from squid_core.exports.overlay import overlay_rgb
from viewer._testsupport import DATA, ScriptedScorer, make_window, open_and_wait, wait_for


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    assert open_and_wait(qtbot, w, DATA / "dicom" / "dx_image.dcm") == "shown"
    # A result so the reconstruction pane has an image too.
    w.session.use_scorer(ScriptedScorer())
    w.analyse_current()
    assert wait_for(lambda: w.panes.result is not None)
    return w


def test_window_level_reaches_every_pane(window) -> None:
    panes = window.panes
    assert set(panes.pane_levels().values()) == {(0.0, 1.0)}  # the file's own pipeline
    window.actions_by_id["preset_1"].trigger()  # the file's own window (W 256 L 128)
    preset = panes.presets[0]
    assert (preset.center, preset.width) == (128.0, 256.0)
    levels = panes.pane_levels()
    assert levels == {name: preset.levels for name in ("original", "reconstruction", "heatmap")}
    panes.set_window(Window(100.0, 50.0, "manual"))
    assert set(panes.pane_levels().values()) == {(75.0, 125.0)}
    # The reconstruction is shown in stored-value units too, so the window means the same.
    recon = panes.drawn("reconstruction")
    orig = panes.drawn("original")
    assert recon.shape == orig.shape and abs(float(recon.mean()) - float(orig.mean())) < 60


def test_right_drag_changes_width_and_level(window) -> None:
    panes = window.panes
    start = panes.effective_window()
    view = panes.panes["heatmap"].view
    view.sigWindowDrag.emit(40.0, 0.0)  # horizontal: width
    after_x = panes.state.window
    assert after_x.width > start.width and after_x.center == pytest.approx(start.center)
    view.sigWindowDrag.emit(0.0, 30.0)  # vertical: level
    after_y = panes.state.window
    assert after_y.center > after_x.center and after_y.width == pytest.approx(after_x.width)
    assert len(set(panes.pane_levels().values())) == 1
    window.actions_by_id["reset_view"].trigger()
    assert panes.state.window is None


def test_orientation_and_invert_apply_to_every_pane(window) -> None:
    panes = window.panes
    shape0 = panes.drawn("original").shape
    window.actions_by_id["rotate_cw"].trigger()
    for name in ("original", "reconstruction", "heatmap"):
        assert panes.drawn(name).shape == shape0[::-1]
    assert panes.panes["heatmap"].overlay.image.shape[:2] == shape0[::-1]
    # The read-out still names the source pixel: after a clockwise turn the displayed
    # top-left is the source's bottom-left; after a horizontal flip, its top-left.
    text = panes.readout_at(0.5, 0.5)
    assert f"x 0  y {shape0[0] - 1}" in text
    value = float(window.panes.image.values[shape0[0] - 1, 0])
    assert f"value {value:.6g}" in text
    window.actions_by_id["flip_h"].trigger()
    assert "x 0  y 0 " in panes.readout_at(0.5, 0.5)
    lut_before = panes.panes["original"].image.lut.copy()
    window.actions_by_id["invert"].trigger()
    for name in ("original", "reconstruction", "heatmap"):
        assert np.array_equal(panes.panes[name].image.lut, lut_before[::-1])


def test_readout_reports_spacing_source(window) -> None:
    text = window.panes.readout_at(10, 10)
    source = window.panes.image.meta.spacing_source
    assert "mm" in text and source in text
    if source == "ImagerPixelSpacing":
        assert "at detector" in text
    assert "heatmap" in text and "sigma above normal" in text


@pytest.mark.parametrize("name, source, at_detector", [
    ("dx_image.dcm", "PixelSpacing", False),
    ("dicomdir_CR1_6154.dcm", "ImagerPixelSpacing", True),  # a CR with detector spacing only
])
def test_readout_and_ruler_say_where_the_spacing_applies(qtbot, tmp_path, name, source,
                                                         at_detector) -> None:
    """Detector spacing is not corrected for magnification: read-out and ruler say so."""
    window = make_window(qtbot, tmp_path)
    assert open_and_wait(qtbot, window, DATA / "dicom" / name) == "shown"
    assert window.panes.image.meta.spacing_source == source
    text = window.panes.readout_at(10, 10)
    assert f"mm ({source}{' at detector' if at_detector else ''})" in text
    window.actions_by_id["measure"].setChecked(True)
    label = window.panes.measurement()
    assert f"mm ({source}" in label
    assert ("at the detector, not corrected for magnification" in label) == at_detector


def test_zoom_fit_and_one_to_one_keep_panes_linked(window) -> None:
    panes = window.panes
    window.actions_by_id["zoom_in"].trigger()
    ranges = [p.view.viewRange() for p in panes.panes.values()]
    assert all(np.allclose(r, ranges[0]) for r in ranges)
    window.actions_by_id["one_to_one"].trigger()
    view = panes.panes["original"].view
    (x0, x1), _ = view.viewRange()
    assert x1 - x0 == pytest.approx(view.size().width(), rel=0.05)
    window.actions_by_id["fit"].trigger()
    (x0, x1), (y0, y1) = view.viewRange()
    rows, cols = panes.image.pixels.shape
    assert x0 <= 0 and x1 >= cols - 1 or y0 <= 0 and y1 >= rows - 1


def test_overlay_controls_drive_the_heatmap(window) -> None:
    overlay_item = window.panes.panes["heatmap"].overlay
    window.overlay.threshold.setValue(0.0)
    shown_all = int((overlay_item.image[..., 3] > 0).sum())
    window.overlay.threshold.setValue(5.0)
    assert int((overlay_item.image[..., 3] > 0).sum()) < shown_all
    window.overlay.opacity.setValue(20)
    assert overlay_item.image[..., 3].max() == round(0.2 * 255)
    window.actions_by_id["toggle_overlay"].trigger()
    assert not overlay_item.isVisible()
    assert "sigma above normal" in window.overlay.bar_label.text()
    assert window.overlay.bar.levels() == (0.0, 6.0)


def test_heatmap_pane_shows_the_sc_overlay_for_every_colormap(window) -> None:
    panes, result = window.panes, window.panes.result
    assert window.overlay.settings() == OverlaySettings()  # the node's SC defaults
    for name in COLORMAPS:
        window.overlay.colormap.setCurrentText(name)
        window.overlay.threshold.setValue(1.0)
        settings = window.overlay.settings()
        assert settings.colormap == name
        sc = overlay_rgb(panes.image.pixels, result.heatmap, result.heatmap_scale_max, settings)
        shown = panes.displayed_overlay()
        assert shown.shape == sc.shape
        assert np.array_equal(shown, sc), name
    # The comparison is not between two grey images: the heatmap is drawn.
    assert len(np.unique(sc.reshape(-1, 3), axis=0)) > 20


def test_ruler_is_labelled_with_its_calibration(window) -> None:
    window.actions_by_id["measure"].setChecked(True)
    text = window.panes.measurement()
    meta = window.panes.image.meta
    assert "mm" in text and meta.spacing_source in text
    mm = float(text.split()[0])
    width_mm = window.panes.image.pixels.shape[1] * meta.pixel_spacing_mm[1]
    assert 0 < mm < 1.5 * width_mm
    if meta.spacing_source == "ImagerPixelSpacing":
        assert "detector" in text
    window.actions_by_id["measure"].setChecked(False)
    assert window.panes.measurement() == ""


def test_measured_length_swaps_spacing_when_rotated() -> None:
    from squid_core.display import measured_length

    assert measured_length(10, 0, (0.2, 0.1), 0) == pytest.approx(1.0)
    assert measured_length(10, 0, (0.2, 0.1), 1) == pytest.approx(2.0)
    assert measured_length(3, 4, None, 0) is None


def test_magnifier_shows_the_original_as_drawn(qtbot, window) -> None:
    window.actions_by_id["magnifier"].setChecked(True)
    panes = window.panes
    view = panes.panes["original"].view
    scene_pos = view.mapViewToScene(pg.Point(50.5, 60.5))
    panes._on_mouse_moved(scene_pos)
    assert panes.magnifier.isVisible() and not panes.magnifier.pixmap().isNull()
    crop = panes.magnifier_crop(50.5, 60.5)
    assert crop.shape[2] == 3 and crop.dtype == np.uint8 and crop.shape[0] > 10
    window.actions_by_id["magnifier"].setChecked(False)
    assert not panes.magnifier.isVisible()
