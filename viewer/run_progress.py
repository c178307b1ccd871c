"""The analysis run in the status bar: "Analysing n / total" and a Cancel button.

Observes the session's run events (``run_started``, ``run_progress``, ``run_finished``);
the bar shows for runs of more than one image, the button for every run.

``QProgressBar.setValue`` repaints at once (not at the next paint), and a repaint paints
everything else waiting in the window too (e.g. the worklist after a re-sort): one per
result was up to 25 ms of the GUI thread each during "Analyse all". The bar therefore
takes the latest count at most every ``PROGRESS_INTERVAL_MS``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from viewer.session_bridge import subscribe

#: How often the bar shows the latest count during a run (milliseconds).
PROGRESS_INTERVAL_MS = 100


class RunProgress(QWidget):
    """Progress of the session's analysis run; ``cancel_button.clicked`` asks to cancel."""

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.bar.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._latest: tuple[int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PROGRESS_INTERVAL_MS)
        self._timer.timeout.connect(self._show_latest)
        subscribe(session.run_started, self._on_started, self)
        subscribe(session.run_progress, self._on_progress, self)
        subscribe(session.run_finished, self._on_finished, self)

    def _on_started(self, total: int) -> None:
        self._latest = None
        self._timer.stop()
        self.bar.setRange(0, total)
        self.bar.setValue(0)
        self._set_total(total)
        self.cancel_button.setVisible(True)

    def _on_progress(self, done: int, total: int) -> None:
        self._latest = (done, total)
        if not self._timer.isActive():
            self._timer.start()

    def _show_latest(self) -> None:
        if self._latest is None:
            return
        (done, total), self._latest = self._latest, None
        if total != self.bar.maximum():  # the image on screen joined the run
            self.bar.setMaximum(total)
            self._set_total(total)
        self.bar.setValue(done)

    def _set_total(self, total: int) -> None:
        self.bar.setFormat(f"Analysing %v / {total}")
        self.bar.setVisible(total > 1)

    def _on_finished(self, _cancelled: bool) -> None:
        self._latest = None
        self._timer.stop()
        self.bar.hide()
        self.cancel_button.hide()
