"""The run's progress bar: it follows the session's run events, and takes the latest
count on a timer instead of repainting once per result (each ``setValue`` repaints the
window at once)."""

from __future__ import annotations

from squid_core.session import Session
from viewer.run_progress import PROGRESS_INTERVAL_MS, RunProgress


def _progress(qtbot) -> tuple[Session, RunProgress]:
    session = Session()
    widget = RunProgress(session)
    qtbot.addWidget(widget)
    widget.show()
    return session, widget


def test_many_results_make_one_update_of_the_bar(qtbot) -> None:
    session, widget = _progress(qtbot)
    session.run_started.emit(200)
    assert widget.bar.isVisible() and widget.cancel_button.isVisible()
    values: list[int] = []
    widget.bar.valueChanged.connect(values.append)
    for done in range(1, 201):
        session.run_progress.emit(done, 200)
    assert values == []  # nothing painted per result
    qtbot.waitUntil(lambda: widget.bar.value() == 200, timeout=5 * PROGRESS_INTERVAL_MS)
    assert values == [200]
    assert widget.bar.text() == "Analysing 200 / 200"


def test_a_count_arriving_later_is_shown_and_a_new_total_too(qtbot) -> None:
    session, widget = _progress(qtbot)
    session.run_started.emit(10)
    session.run_progress.emit(3, 10)
    qtbot.waitUntil(lambda: widget.bar.value() == 3, timeout=2000)
    session.run_progress.emit(4, 11)  # the image on screen joined the run
    qtbot.waitUntil(lambda: widget.bar.value() == 4, timeout=2000)
    assert widget.bar.maximum() == 11
    assert widget.bar.text() == "Analysing 4 / 11"


def test_the_end_of_a_run_hides_the_bar_and_drops_a_pending_count(qtbot) -> None:
    session, widget = _progress(qtbot)
    session.run_started.emit(10)
    values: list[int] = []
    widget.bar.valueChanged.connect(values.append)
    session.run_progress.emit(10, 10)
    session.run_finished.emit(False)
    assert not widget.bar.isVisible() and not widget.cancel_button.isVisible()
    qtbot.wait(3 * PROGRESS_INTERVAL_MS)
    assert values == []  # no late update of a finished run
    session.run_started.emit(5)  # the next run starts from zero
    assert widget.bar.value() == 0 and widget.bar.maximum() == 5
