"""Analysis: no-model state, a real (tiny) model, responsiveness, Analyse all, cancel."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer

import squid_core
from viewer._testsupport import (
    DATA,
    ScriptedScorer,
    make_window,
    open_and_wait,
    tiny_model_file,
    wait_for,
)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def _use_scripted(window, scorer: ScriptedScorer) -> None:
    window.session.use_scorer(scorer)


def test_without_a_model_the_viewer_says_so_and_still_views(qtbot, window) -> None:
    assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    assert "No model loaded" in window.score_panel.state.text()
    assert "No model loaded" in window.panes.message_text("reconstruction")
    assert not window.actions_by_id["analyse"].isEnabled()
    window.analyse_current()
    assert "No model loaded" in window.statusBar().currentMessage()
    assert window.exporter.export_report("png", "/nonexistent/never.png") is None
    assert window.panes.drawn("original") is not None  # still a viewer


def test_bad_model_file_is_reported(qtbot, window, tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with qtbot.waitSignal(window.modelFailed, timeout=20000):
        window.load_model(bad)
    assert "Could not load the model" in window.statusBar().currentMessage()
    assert window.session.model is None


def test_real_model_scores_the_image_on_screen(qtbot, window, model_path) -> None:
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    assert window.actions_by_id["analyse"].isEnabled()
    assert "tiny-test" in window.score_panel.model.text()
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, DATA / "dicom" / "SIIM_CR_chest.dcm") == "shown"
    result = window.panes.result
    assert 0.0 <= result.score <= 100.0
    panel = window.score_panel
    assert panel.score.text() == f"{result.score:.1f}"
    assert "balanced" in panel.operating_point.text()
    assert ("FLAGGED" in panel.flag.text()) == bool(result.flagged)
    assert panel.device.text() == "cpu" and panel.timing.text().endswith(")")
    assert "not a diagnosis" in panel.note.text()
    assert window.panes.drawn("reconstruction") is not None
    # The model file's heatmap statistics reach the screen: the map is in standard
    # deviations above normal, on the model's fixed colour scale.
    assert result.heatmap_units == "sigma above normal"
    scale_max = squid_core.load_model(model_path).metadata["heatmap"]["scale_max"]
    assert result.heatmap_scale_max == pytest.approx(scale_max)
    assert "sigma above normal" in window.overlay.bar_label.text()
    assert window.overlay.bar.levels() == pytest.approx((0.0, scale_max))
    entry = window.session.catalog.entries[str(DATA / "dicom" / "SIIM_CR_chest.dcm")]
    assert entry.score == pytest.approx(result.score)


def test_event_loop_stays_responsive_during_analysis(qtbot, window, model_path) -> None:
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    window.settings.auto_analyse = False
    # Every test file: big and small, 8 and 16 bit, multi-frame, and some that fail to
    # decode (they move to the "Could not open" list during the run).
    window.open_paths([DATA / "images", DATA / "dicom"])
    assert wait_for(lambda: window.panes.image is not None and len(window.session.catalog.entries) > 20)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    with qtbot.waitSignal(window.analysisFinished, timeout=120000):
        window.analyse_all()
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 20
    assert max(gaps) < 0.100, f"longest wait between 10 ms ticks: {max(gaps) * 1000:.0f} ms"
    assert all(e.summary is not None for e in window.session.catalog.entries.values())
    rejected = {r.path.name for r in window.session.catalog.rejected}
    assert {"966.dcm", "RG2_JPLY.dcm"} <= rejected
    assert sorted(window.browser.visible_keys()) == sorted(window.session.catalog.entries)
    assert window.browser.rejected.count() == len(window.session.catalog.rejected)


def test_analyse_all_resorts_the_worklist_as_scores_arrive(qtbot, window) -> None:
    _use_scripted(window, ScriptedScorer(delay=0.02))
    window.settings.auto_analyse = False
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: len(window.session.catalog.entries) >= 5)
    window.actions_by_id["worklist"].setChecked(True)
    n = len(window.session.catalog.entries)
    firsts: list[bool] = []

    def check(_key, _frame, _result) -> None:
        keys = window.browser.visible_keys()
        assert len(keys) == n  # nothing hidden, scored or not
        scores = [window.session.catalog.entries[k].score for k in keys]
        scored = [s for s in scores if s is not None]
        firsts.append(scored == sorted(scored, reverse=True) and scores[: len(scored)] == scored)

    window.session.result_ready.connect(check)
    with qtbot.waitSignal(window.analysisFinished, timeout=60000):
        window.actions_by_id["analyse_all"].trigger()
    assert len(firsts) == n and all(firsts)
    keys = window.browser.visible_keys()
    assert keys == [e.key for e in window.session.catalog.worklist()]
    top = window.browser.row_texts()
    assert float(top[1]) == pytest.approx(max(e.score for e in window.session.catalog.entries.values()), abs=0.05)


def test_cancel_stops_analyse_all_and_keeps_every_image(qtbot, window) -> None:
    _use_scripted(window, ScriptedScorer(delay=0.4))
    window.settings.auto_analyse = False
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: len(window.session.catalog.entries) >= 5)
    with qtbot.waitSignal(window.analysisFinished, timeout=30000) as blocker:
        window.analyse_all()
        assert wait_for(lambda: any(e.summary for e in window.session.catalog.entries.values()))
        window.actions_by_id["cancel"].trigger()
    assert blocker.args == [True]
    scored = sum(1 for e in window.session.catalog.entries.values() if e.summary is not None)
    assert 1 <= scored < len(window.session.catalog.entries)
    assert len(window.browser.visible_keys()) == len(window.session.catalog.entries)


def test_each_frame_of_a_multiframe_image_is_scored_on_its_own(qtbot, window) -> None:
    # A model that declares itself applicable to multi-frame MR (the default chest model
    # is not: see test_applicability_status.py).
    _use_scripted(window, ScriptedScorer(applicability={
        "modalities": [], "body_parts": [], "single_frame": False}))
    key = str(DATA / "dicom" / "emri_small_RLE.dcm")
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        assert open_and_wait(qtbot, window, key) == "shown"
    first = window.panes.result
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        window.actions_by_id["next_frame"].trigger()
    assert window.panes.frame == 1 and window.panes.result is not first
    assert window.session.catalog.entries[key].summary.frame == 1
    window.actions_by_id["prev_frame"].trigger()  # cached: shown at once
    assert window.panes.result is first


def test_next_and_previous_image_follow_the_browser(qtbot, window) -> None:
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: window.panes.image is not None and len(window.session.catalog.entries) > 2)
    keys = window.browser.visible_keys()
    assert window.browser.current_key() == keys[0]
    with qtbot.waitSignal(window.imageShown, timeout=30000) as blocker:
        window.actions_by_id["next_image"].trigger()
    assert blocker.args == [keys[1]]
    with qtbot.waitSignal(window.imageShown, timeout=30000) as blocker:
        window.actions_by_id["prev_image"].trigger()
    assert blocker.args == [keys[0]]
    recent = [a.text() for a in window.recent_menu.actions()]
    assert str(DATA / "images") in recent


def test_a_long_worklist_resorts_in_batches_and_ends_sorted(qtbot, window, monkeypatch) -> None:
    import viewer.study_browser as study_browser

    monkeypatch.setattr(study_browser, "IMMEDIATE_ROWS", 0)  # treat the test folder as long
    _use_scripted(window, ScriptedScorer())
    window.settings.auto_analyse = False
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: len(window.session.catalog.entries) >= 5)
    window.actions_by_id["worklist"].setChecked(True)
    sorts = []
    monkeypatch.setattr(window.browser, "update_scores",
                        lambda keys, real=window.browser.update_scores: (sorts.append(len(keys)),
                                                                          real(keys)))
    with qtbot.waitSignal(window.analysisFinished, timeout=60000):
        window.actions_by_id["analyse_all"].trigger()
    qtbot.waitUntil(lambda: sum(sorts) == len(window.session.catalog.entries), timeout=5000)
    assert len(sorts) < len(window.session.catalog.entries)  # batched: fewer sorts than scores
    keys = window.browser.visible_keys()
    assert keys == [e.key for e in window.session.catalog.worklist()]


def test_compile_setting_compiles_in_the_background_or_says_why_not(qtbot, window, model_path,
                                                                     monkeypatch) -> None:
    from squid_core.scoring.scorer import COMPILE_FAILED_NOTE

    # The analysis worker compiles (it holds the model that scores). Without a working
    # C++ compiler (the worker inherits CXX) it must score meanwhile, uncompiled, and the
    # status must say why it stays uncompiled.
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    window.settings.compile_model = True
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    ended: list[bool] = []
    window.modelCompiled.connect(ended.append)
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    assert "compiling it for this computer in the background" in messages[-1]
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    assert window.panes.result.notes == [] and not ended  # scored while it compiles
    qtbot.waitUntil(lambda: bool(ended), timeout=120000)
    assert ended == [False] and not window.session.model.compiled
    assert "not compiled: InductorError: InvalidCxxCompiler" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        window.analyse_current()
    assert window.panes.result.notes[0].startswith(COMPILE_FAILED_NOTE)  # still scored


def test_choosing_another_operating_point_reflags_without_reanalysing(qtbot, window,
                                                                      model_path) -> None:
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    panel = window.score_panel
    names = [panel.operating_points.itemData(i) for i in range(panel.operating_points.count())]
    assert names == ["balanced", "high sensitivity"] and panel.operating_points.isEnabled()
    assert panel.operating_points.currentData() == "balanced"
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    key = str(DATA / "images" / "TBX11K_h0001.png")
    score = window.panes.result.score
    points = {op.name: op for op in window.session.model.operating_points}
    analysed: list[str] = []
    window.session.result_ready.connect(lambda k, *_: analysed.append(k))
    # The user picks "high sensitivity" in the score panel's combo box.
    panel.operating_points.activated.emit(names.index("high sensitivity"))
    high = points["high sensitivity"]
    summary = window.session.catalog.entries[key].summary
    assert summary.operating_point.name == "high sensitivity"
    assert summary.operating_threshold == pytest.approx(high.threshold)
    assert summary.flagged == (score >= high.threshold)
    assert window.panes.result.operating_point.name == "high sensitivity"
    assert "high sensitivity" in panel.operating_point.text()
    assert ("FLAGGED" in panel.flag.text()) == summary.flagged
    assert window.browser.row_texts(key)[2] == ("FLAG" if summary.flagged else "no")
    assert analysed == []  # re-flagged, not re-analysed
    # Later analyses use it too.
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, DATA / "images" / "NIH_00027426_000.png") == "shown"
    assert window.panes.result.operating_point.name == "high sensitivity"
