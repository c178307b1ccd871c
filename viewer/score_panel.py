"""Score panel: the anomaly score, operating point and flag, and where they came from.

Shows the score 0-100 (100 = most unlike the normal studies the model learnt), the
operating point in use (a choice among the named ones stored with the model, e.g.
balanced or high sensitivity) and whether this image is flagged at it, the raw discriminator
logit, model name and version, the device and the time taken. A standing note says this
is research software for decision support, not a diagnosis.

A result that is not the model's answer is never shown as "not flagged": *not
applicable* (the file is not what the model is for: no score, with the reason, and an
"Analyse anyway" button) or *outside the training data* (the score is shown, labelled
uncalibrated, with the guard's distance and threshold): both read "NEEDS REVIEW". Without a model it says so
plainly: the viewer still works as a viewer.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from squid_core.scoring.result import NOT_APPLICABLE, SCORED
from viewer.session_bridge import subscribe
from viewer.theme import FLAG, MUTED, OK, REVIEW

RESEARCH_NOTE = "Research use only — decision support, not a diagnosis."


def _fmt(value: Any, spec: str = ".3f") -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(f) else format(f, spec)


def _guard_text(result: Any) -> str:
    """What the out-of-distribution guard said about ``result``."""
    distance, threshold = result.ood_distance, result.ood_threshold
    if distance is None or threshold is None:
        if result.score is None:
            return "not checked (not scored)"
        return "not checked: this model has no out-of-distribution guard"
    inside = "inside" if distance <= threshold else "OUTSIDE"
    return f"{inside} (distance {distance:.1f}, limit {threshold:.1f})"


class ScorePanel(QWidget):
    """Display of one AnalysisResult and of the loaded model, with the choice of the
    model's operating point."""

    #: The user chose another of the model's stored operating points (its name).
    operatingPointChosen = Signal(str)
    #: The user asked to score a not-applicable image regardless.
    analyseAnywayRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.score = QLabel("—")
        self.score.setObjectName("scoreValue")
        self.flag = QLabel()
        self.flag.setWordWrap(True)
        self.status = QLabel()
        self.status.setObjectName("resultStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {REVIEW};")
        self.analyse_anyway = QPushButton("Analyse anyway")
        self.analyse_anyway.setToolTip("Score this image although it is not what the model is "
                                       "for; the result keeps the 'not applicable' status")
        self.analyse_anyway.clicked.connect(self.analyseAnywayRequested)
        self.operating_point = QLabel("—")
        self.operating_point.setWordWrap(True)
        self.operating_points = QComboBox()
        self.operating_points.setToolTip("Operating points stored with the model, chosen on "
                                         "its validation data")
        self.operating_points.activated.connect(self._on_operating_point)
        self.logit = QLabel("—")
        self.model = QLabel("—")
        self.model.setWordWrap(True)
        self.device = QLabel("—")
        self.guard = QLabel("—")
        self.guard.setWordWrap(True)
        self.guard.setToolTip("Distance of the image from the model's training normals "
                              "(out-of-distribution guard) and the guard's threshold")
        self.timing = QLabel("—")
        self.note = QLabel(RESEARCH_NOTE)
        self.note.setObjectName("researchNote")
        self.note.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Operating point", self.operating_point)
        form.addRow("Flag at", self.operating_points)
        form.addRow("Raw logit", self.logit)
        form.addRow("Model", self.model)
        form.addRow("Device", self.device)
        form.addRow("Training data", self.guard)
        form.addRow("Time", self.timing)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet(f"color: {MUTED};")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.state)
        layout.addWidget(self.score)
        layout.addWidget(self.flag)
        layout.addWidget(self.status)
        layout.addWidget(self.analyse_anyway)
        layout.addLayout(form)
        layout.addWidget(line)
        layout.addWidget(self.note)
        layout.addStretch(1)

        self._model: Any = None
        self.set_model(None)

    @property
    def has_model(self) -> bool:
        """Whether a model is loaded (as far as this panel was told)."""
        return self._model is not None

    def set_model(self, model: Any, operating_point: Any = None) -> None:
        """The active model (a ``ModelDescription``: name, version, device, operating
        points) and the point flags are read at, or None."""
        self._model = model
        self.set_result(None)
        self.operating_points.blockSignals(True)
        self.operating_points.clear()
        points = tuple(getattr(model, "operating_points", ()) or ())
        for op in points:
            self.operating_points.addItem(f"{op.name} (≥ {_fmt(op.threshold, '.1f')})", op.name)
            self.operating_points.setItemData(self.operating_points.count() - 1,
                                              op.rule, 3)  # tooltip role
        self.operating_points.setEnabled(len(points) > 1)
        self.operating_points.blockSignals(False)
        if model is None:
            self.model.setText("—")
            self.device.setText("—")
            self.operating_point.setText("—")
            return
        self.model.setText(f"{model.name} {model.version}".strip())
        self.set_device(model.device)
        self.set_operating_point(operating_point)

    def observe(self, session: Any) -> None:
        """Follow ``session``'s model (and the device its worker uses) and operating point."""
        subscribe(session.model_changed,
                  lambda model: self.set_model(model, session.operating_point), self)
        subscribe(session.model_ready, lambda model: self.set_device(model.device), self)
        subscribe(session.operating_point_changed, self.set_operating_point, self)

    def set_device(self, device: str) -> None:
        """The device the model runs on."""
        self.device.setText(device or "—")

    def set_operating_point(self, op: Any) -> None:
        """The operating point in use (an ``OperatingPoint`` or None)."""
        self.operating_point.setText(op.name if op is not None else "none set")
        if op is not None:
            self._select_operating_point(op.name)

    def _select_operating_point(self, name: str) -> None:
        index = self.operating_points.findData(name)
        if index >= 0:
            self.operating_points.setCurrentIndex(index)

    def _on_operating_point(self, index: int) -> None:
        name = self.operating_points.itemData(index)
        if name:
            self.operatingPointChosen.emit(str(name))

    def set_busy(self, text: str = "Analysing…") -> None:
        """Show that an analysis of this image is under way."""
        self.state.setText(text)
        self.state.setStyleSheet(f"color: {MUTED};")

    def set_result(self, result: Any) -> None:
        """Show an AnalysisResult, or the waiting / no-model state when None."""
        self.score.setVisible(result is not None and result.score is not None)
        self.status.setVisible(result is not None and result.status != SCORED)
        self.analyse_anyway.setVisible(result is not None and result.status == NOT_APPLICABLE
                                       and not result.forced)
        if result is None:
            self.score.setText("—")
            self.flag.setText("")
            self.logit.setText("—")
            self.timing.setText("—")
            self.guard.setText("—")
            if self._model is None:
                self.state.setText("No model loaded — Model ▸ Open model file… (Ctrl+M). "
                                   "The viewer works without one.")
                self.state.setStyleSheet(f"color: {FLAG}; font-weight: bold;")
            else:
                self.state.setText("Not analysed yet (F5)")
                self.state.setStyleSheet(f"color: {MUTED};")
            return
        if result.status != SCORED:
            self._show_review(result)
        elif getattr(result, "calibrated", True):
            self.state.setText("Anomaly score (0–100)")
            self.state.setStyleSheet(f"color: {MUTED};")
        else:
            self.state.setText("Anomaly score (0–100) — model not calibrated: "
                               "compare scores only within this model")
            self.state.setStyleSheet("color: #f0c674;")
        self.score.setText(_fmt(result.score, ".1f"))
        op = result.operating_point
        if op is not None:
            self.operating_point.setText(f"{op.name} (flag if ≥ {_fmt(op.threshold, '.1f')})")
            self.operating_point.setToolTip(op.rule)
            self._select_operating_point(op.name)
        else:
            self.operating_point.setText("none set for this model")
        if result.status != SCORED:
            pass  # _show_review said it: never "not flagged"
        elif result.flagged is True:
            self.flag.setText("FLAGGED at this operating point")
            self.flag.setStyleSheet(f"color: {FLAG}; font-weight: bold;")
            self.score.setStyleSheet(f"color: {FLAG};")
        elif result.flagged is False:
            self.flag.setText("Not flagged at this operating point")
            self.flag.setStyleSheet(f"color: {OK};")
            self.score.setStyleSheet(f"color: {OK};")
        else:
            self.flag.setText("No operating point: not flagged either way")
            self.flag.setStyleSheet(f"color: {MUTED};")
            self.score.setStyleSheet("")
        self.logit.setText(_fmt(result.raw_logit, ".4f") if result.raw_logit is not None else "—")
        self.model.setText(f"{result.model_name} {result.model_version}".strip())
        notes = getattr(result, "notes", None) or []
        self.device.setText(str(result.device) + (f" — {'; '.join(notes)}" if notes else ""))
        self.guard.setText(_guard_text(result))
        t = getattr(result, "timings", None) or {}
        if "total" in t:
            extra = f" (inference {_fmt(t['inference'], '.2f')} s)" if "inference" in t else ""
            self.timing.setText(f"{_fmt(t['total'], '.2f')} s{extra}")
        else:
            self.timing.setText("—")

    def _show_review(self, result: Any) -> None:
        """The state, flag and status lines of a not-applicable or outside result."""
        self.score.setStyleSheet(f"color: {REVIEW};")
        self.flag.setStyleSheet(f"color: {REVIEW}; font-weight: bold;")
        self.state.setStyleSheet(f"color: {REVIEW}; font-weight: bold;")
        at_op = {True: "above", False: "below"}.get(result.flagged)
        position = f" (score {at_op} the operating point)" if at_op else ""
        if result.status == NOT_APPLICABLE and result.score is None:
            self.state.setText("NOT APPLICABLE — not scored")
            self.flag.setText("NEEDS REVIEW: this image is not what the model is for")
        elif result.status == NOT_APPLICABLE:
            self.state.setText("NOT APPLICABLE — analysed anyway; score uncalibrated")
            self.flag.setText(f"NEEDS REVIEW{position}")
        else:
            self.state.setText("OUTSIDE THE MODEL'S TRAINING DATA — score uncalibrated")
            self.flag.setText(f"NEEDS REVIEW{position}")
        reason = result.status_reason[:1].upper() + result.status_reason[1:]
        self.status.setText(reason + ".")
