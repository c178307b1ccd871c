"""The viewer observes the session: a change made to the session alone (as a headless
client would make it) reaches the widgets, on the GUI thread, with no call to the window."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from squid_core.scoring.operating_point import OperatingPoint
from squid_core.session import ModelDescription
from viewer._testsupport import ScriptedScorer, make_window, open_and_wait
from viewer.session_bridge import GuiThreadDelivery
from viewer.study_tree_model import COL_FLAG, COL_SCORE

DATA = Path(__file__).parent / "data"
IMAGE = DATA / "images" / "TBX11K_h0001.png"
HIGH = OperatingPoint("high sensitivity", 1.0, "sensitivity >= 0.95", 0.95, None)


def test_deliveries_from_other_threads_run_on_the_gui_thread_in_order(qtbot) -> None:
    deliver = GuiThreadDelivery()
    gui = threading.get_ident()
    ran: list[tuple[int, int]] = []

    def from_a_worker() -> None:
        for i in range(20):
            deliver(lambda i=i: ran.append((i, threading.get_ident())))

    worker = threading.Thread(target=from_a_worker)
    worker.start()
    worker.join()
    assert ran == []  # queued, not run in the worker
    qtbot.waitUntil(lambda: len(ran) == 20, timeout=3000)
    assert [i for i, _ in ran] == list(range(20))
    assert {t for _, t in ran} == {gui}


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    scorer = ScriptedScorer(rule=lambda _px: 30.0)
    balanced = scorer.operating_point
    w.session.use_scorer(scorer, ModelDescription(
        "scripted", "test", operating_points=(balanced, HIGH),
        default_operating_point=balanced))
    return w


def test_results_reach_the_widgets_on_the_gui_thread(qtbot, window) -> None:
    threads: list[int] = []
    window.session.result_ready.connect(lambda *_: threads.append(threading.get_ident()))
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        assert open_and_wait(qtbot, window, IMAGE) == "shown"
    assert threads == [threading.get_ident()]  # analysed in a thread, delivered here
    assert window.score_panel.score.text() == "30.0"
    assert window.browser.row_texts(str(IMAGE))[COL_SCORE] == "30.0"


def test_a_summary_changed_in_the_session_updates_the_browser_row(qtbot, window) -> None:
    window.session.open([DATA / "images"])  # opened by the session, not the window
    assert len(window.browser.visible_keys()) == len(list((DATA / "images").iterdir()))
    key = str(IMAGE)
    summary = window.session.catalog.entries[key].summary
    assert summary is None and window.browser.row_texts(key)[COL_SCORE] == "—"
    from squid_core.scoring.operating_point import OperatingPoint
    from squid_core.scoring.summary import ResultSummary

    window.session.catalog.set_summary(key, ResultSummary(
        score=91.5, raw_logit=-4.0, operating_point=OperatingPoint("balanced", 50.0),
        model_name="scripted", model_version="test", device="cpu", seconds=0.1))
    assert window.browser.row_texts(key)[COL_SCORE] == "91.5"
    assert window.browser.row_texts(key)[COL_FLAG] == "FLAG"


def test_an_operating_point_chosen_in_the_session_reaches_panel_and_browser(qtbot,
                                                                            window) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        assert open_and_wait(qtbot, window, IMAGE) == "shown"
    key = str(IMAGE)
    assert window.browser.row_texts(key)[COL_FLAG] == "no"  # 30 < 50
    window.session.set_operating_point("high sensitivity")  # not through the window
    assert window.score_panel.operating_point.text().startswith("high sensitivity")
    assert window.score_panel.operating_points.currentData() == "high sensitivity"
    assert "FLAGGED" in window.score_panel.flag.text()
    assert window.browser.row_texts(key)[COL_FLAG] == "FLAG"
    assert window.panes.result.operating_point == HIGH


def test_clearing_the_session_clears_the_window(qtbot, window) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        assert open_and_wait(qtbot, window, IMAGE) == "shown"
    window.session.clear()
    assert window.browser.visible_keys() == []
    assert window.panes.image is None and window.panes.result is None
    assert window.score_panel.score.text() == "—"
    assert window.windowTitle() == "SQUID Viewer"


def test_another_model_in_the_session_resets_the_score_panel(qtbot, window) -> None:
    with qtbot.waitSignal(window.resultShown, timeout=30000):
        assert open_and_wait(qtbot, window, IMAGE) == "shown"
    window.session.use_scorer(ScriptedScorer(threshold=None))
    assert window.score_panel.operating_point.text() == "none set"
    assert window.score_panel.score.text() == "—"
    assert window.browser.row_texts(str(IMAGE))[COL_SCORE] == "—"
    assert "Not analysed yet" in window.panes.message_text("heatmap")
    window.session.clear_model()
    assert "No model loaded" in window.panes.message_text("reconstruction")
    assert not window.actions_by_id["analyse"].isEnabled()
