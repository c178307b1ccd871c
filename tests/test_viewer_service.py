"""The viewer as a client of the analysis service: the model runs in a worker process.

A real MainWindow with a small real model file: "Analyse all" scores in the service's
worker (never in the viewer's process), the image on screen goes first, cancel stops
the run, a worker that dies shows an error for that image and the next one scores, and
another model restarts the service.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from viewer._testsupport import make_window, open_and_wait, tiny_model_file, wait_for

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def window(qtbot, tmp_path, tiny_model, monkeypatch):
    # Nothing may be scored in the viewer's own process once a model file is loaded.
    def not_here(*_args, **_kwargs):
        raise AssertionError("scored in the viewer's process")

    monkeypatch.setattr("squid_core.service.in_process.analyse", not_here)
    w = make_window(qtbot, tmp_path)
    w.settings.auto_analyse = False
    with qtbot.waitSignal(w.modelLoaded, timeout=60000):
        w.load_model(tiny_model, "cpu")
    return w


def _worker_pid(window) -> int:
    service = window.session.service
    assert wait_for(lambda: bool(service.model_info), 60), "the worker did not start"
    return int(service.model_info["pid"])


def test_analyse_all_scores_in_a_worker_process_image_on_screen_first(qtbot, window) -> None:
    window.open_paths([DATA / "images"])
    assert wait_for(lambda: window.panes.image is not None and len(window.session.catalog.entries) > 5)
    last = window.browser.visible_keys()[-1]
    window.browser.select(last)  # an image far down the list is on screen
    assert wait_for(lambda: window.session.key == last and window.panes.image is not None)
    order: list[str] = []
    window.session.result_ready.connect(lambda key, *_: order.append(key))
    with qtbot.waitSignal(window.analysisFinished, timeout=120000) as done:
        window.actions_by_id["analyse_all"].trigger()
    assert done.args == [False]
    assert order[0] == last  # on screen: analysed first
    assert _worker_pid(window) != os.getpid()
    assert all(e.summary is not None for e in window.session.catalog.entries.values())
    assert window.panes.result is not None and window.score_panel.score.text() != ""
    assert not window.session.busy and not window.run_progress.cancel_button.isVisible()


def test_cancel_stops_the_run_in_the_service(qtbot, window) -> None:
    window.open_paths([DATA / "images", DATA / "dicom"])
    assert wait_for(lambda: len(window.session.catalog.entries) > 20)
    results: list[str] = []
    window.session.result_ready.connect(lambda key, *_: results.append(key))
    with qtbot.waitSignal(window.analysisFinished, timeout=120000) as done:
        window.analyse_all()
        assert wait_for(lambda: len(results) >= 1, 60)
        window.actions_by_id["cancel"].trigger()
    assert done.args == [True]
    assert not window.session.busy
    assert 1 <= len(results) < len(window.session.catalog.entries)
    assert "cancelled" in window.statusBar().currentMessage()
    # The service still serves: the image on screen is analysed on request.
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        window.analyse_current()


def test_a_worker_that_dies_shows_an_error_and_the_next_image_scores(qtbot, window) -> None:
    assert open_and_wait(qtbot, window, DATA / "dicom" / "dx_image.dcm") == "shown"
    pid = _worker_pid(window)
    service = window.session.service

    def crash(_key: str) -> None:  # the worker dies as a crashing decoder would
        service.started.disconnect(crash)
        os.kill(pid, signal.SIGKILL)

    service.started.connect(crash)
    window.analyse_current()
    assert wait_for(lambda: "Could not analyse" in window.score_panel.state.text(), 60)
    assert "stopped unexpectedly" in window.score_panel.state.text()
    assert "dx_image.dcm" in window.statusBar().currentMessage()
    assert not window.session.busy
    with qtbot.waitSignal(window.resultShown, timeout=60000):  # a new worker scores it
        window.analyse_current()
    assert window.panes.result is not None and not _alive(pid)


def test_another_model_restarts_the_service(qtbot, window, tmp_path) -> None:
    assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        window.analyse_current()
    old_pid = _worker_pid(window)
    other = tiny_model_file(tmp_path / "other.safetensors")
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(other, "cpu")  # as the library or the wizard activating one
    assert window.session.service.spec.path == str(other)
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        window.analyse_current()
    assert _worker_pid(window) != old_pid
    assert wait_for(lambda: not _alive(old_pid), 15), "the previous model's worker still runs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie until its parent reaps it: count that as ended.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_the_image_on_screen_keeps_its_result_after_a_long_run(qtbot, window) -> None:
    """The image on screen is analysed first; a run of more images than the result cache
    holds must not push its result out (the score panel once went back to "Not analysed
    yet" at the end of "Analyse all" on the seven demo studies)."""
    from squid_core.session import RESULT_CACHE

    window.open_paths([DATA / "images", DATA / "dicom"])
    assert wait_for(lambda: len(window.session.catalog.entries) > RESULT_CACHE + 2)
    shown = next(k for k in window.browser.visible_keys() if k.endswith("IM-0115-0001.jpeg"))
    window.browser.select(shown)
    assert wait_for(lambda: window.session.key == shown and window.panes.image is not None)
    with qtbot.waitSignal(window.analysisFinished, timeout=180000):
        window.analyse_all()
    summary = window.session.catalog.entries[shown].summary
    assert summary is not None and summary.score is not None
    assert window.score_panel.score.text() == f"{summary.score:.1f}"
    assert window.panes.result is not None
