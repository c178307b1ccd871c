"""Step 4 of the training wizard: how good is the new model, and where to draw the line.

Shows the ROC curve and AUC of the trained model on the validation set (scores as
the viewer computes them, after calibration), the calibration itself (mu, sigma of
the discriminator value on normal images), and lets the user choose the operating
point by a target specificity or sensitivity. The threshold comes from the pure
functions of :mod:`squid_core.scoring.operating_point`, the same ones the trainer
uses, and is stored with the model on the next page.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from squid_core.bootstrap import bootstrap_rates
from squid_core.metrics import metrics_at_threshold
from squid_core.scoring.operating_point import (
    balanced_threshold,
    operating_point,
    threshold_for_sensitivity,
)
from viewer.wizard.state import WizardState

SPECIFICITY = "specificity"
SENSITIVITY = "sensitivity"

#: What the page says about the margin and about re-calibration (measured with
#: ``bench/recalibration.py``, see docs/robustness.md and the model card).
MARGIN_TEXT = (
    "A target specificity is met with a margin: at the lower end of its 95 % bootstrap "
    "interval on the validation normals, so that further normal studies of the same kind keep "
    "it. The fewer the normals, the wider the margin and the fewer studies flagged (measured "
    "for a 0.90 target: specificity about 0.96 with 25 normals, 0.93 with 200): use at least "
    "100, better 200, normal studies of this site that training did not see. When the site's "
    "images change (detector, processing, collimation), re-calibrate on about 200 new normal "
    "studies (squid calibrate): brighter images alone (gamma 0.8) took the bundled model's "
    "specificity from 0.89 to 0.63."
)


def choose_operating_point(
    scores: list[float], labels: list[int], target: str, value: float, source: str
) -> dict[str, Any]:
    """The operating point (model-file format) meeting ``target >= value`` on the scores.

    A target specificity is met with the trainer's margin: at the lower end of the
    specificity's 95 % bootstrap interval (see :mod:`squid_core.scoring.operating_point`).
    """
    y = np.asarray(labels, dtype=int)
    counts = f"{source}: {int((y == 0).sum())} normal, {int((y == 1).sum())} abnormal"
    if target == SPECIFICITY:
        thr, rule = balanced_threshold(scores, y, value)
        rule = f"{rule} on the {counts}"
        name = f"specificity {value:.2f}"
    else:
        thr = threshold_for_sensitivity(scores, y, value)
        rule = f"highest threshold with sensitivity >= {value:.2f} on the {counts}"
        name = f"sensitivity {value:.2f}"
    return operating_point(name, thr, rule, scores, y)


class ValidatePage(QWizardPage):
    """ROC and AUC, calibration summary, operating point by target rate."""

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._scores: list[float] = []
        self._labels: list[int] = []
        self._source = "validation set"
        self.setTitle("4. Validation")
        self.setSubTitle("Scores are 0-100 (100 = most unusual). Choose where the model flags a "
                         "study: a target specificity limits false alarms on normal studies, a "
                         "target sensitivity limits missed abnormal ones.")

        self.roc_plot = pg.PlotWidget(title="ROC curve on the validation set")
        self.roc_plot.setLabel("bottom", "1 - specificity (false-positive rate)")
        self.roc_plot.setLabel("left", "sensitivity (true-positive rate)")
        self.roc_plot.setXRange(0, 1, padding=0.02)
        self.roc_plot.setYRange(0, 1, padding=0.02)
        self.roc_plot.setAspectLocked(True)
        self.roc_plot.showGrid(x=True, y=True, alpha=0.2)
        self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#777777", style=pg.QtCore.Qt.DashLine))
        self._roc_curve = self.roc_plot.plot([], [], pen=pg.mkPen("#3d8fd1", width=2))
        self._point = pg.ScatterPlotItem(size=12, brush=pg.mkBrush("#e0544b"), pen=None)
        self.roc_plot.addItem(self._point)

        self.auc_label = QLabel()
        self.auc_label.setWordWrap(True)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)

        self.target_combo = QComboBox()
        self.target_combo.addItem("Target specificity", SPECIFICITY)
        self.target_combo.addItem("Target sensitivity", SENSITIVITY)
        self.target_spin = QDoubleSpinBox()
        self.target_spin.setRange(0.50, 1.00)
        self.target_spin.setSingleStep(0.01)
        self.target_spin.setDecimals(2)
        self.target_spin.setValue(0.90)
        self.target_combo.currentIndexChanged.connect(self._recompute)
        self.target_spin.valueChanged.connect(self._recompute)
        self.point_label = QLabel()
        self.point_label.setWordWrap(True)
        self.margin_label = QLabel(MARGIN_TEXT)
        self.margin_label.setWordWrap(True)
        op_box = QGroupBox("Operating point")
        form = QFormLayout(op_box)
        row = QHBoxLayout()
        row.addWidget(self.target_combo)
        row.addWidget(self.target_spin)
        form.addRow("Rule:", row)
        form.addRow(self.point_label)
        form.addRow(self.margin_label)

        cal_box = QGroupBox("Performance and calibration")
        cl = QVBoxLayout(cal_box)
        cl.addWidget(self.auc_label)
        cl.addWidget(self.calibration_label)
        side = QVBoxLayout()
        side.addWidget(cal_box)
        side.addWidget(op_box)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.roc_plot, 3)
        layout.addLayout(side, 2)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        v = self.state.validation or {}
        self._scores = [float(s) for s in v.get("scores") or []]
        self._labels = [int(y) for y in v.get("labels") or []]
        n_norm = sum(1 for y in self._labels if y == 0)
        n_abn = len(self._labels) - n_norm
        source = str(v.get("source") or "validation set")
        roc = v.get("roc")
        if roc and v.get("auc") is not None:
            self._roc_curve.setData(roc["fpr"], roc["tpr"])
            self.auc_label.setText(
                f"<b>AUC {v['auc']:.3f}</b> on {n_norm} normal and {n_abn} abnormal images "
                f"({source}).")
        else:
            self._roc_curve.setData([], [])
            self.auc_label.setText("No ROC curve: the validation set has no abnormal images.")
        if v.get("mu") is not None:
            self.calibration_label.setText(
                f"Calibration on {v.get('n_calibration')} normal training images: discriminator "
                f"value mu = {v['mu']:.4g}, sigma = {v['sigma']:.3g}. A score of 50 is an image "
                "as real-looking as the average normal one.")
        else:
            self.calibration_label.setText("The model carries no calibration.")
        sens_item = self.target_combo.model().item(1)
        sens_item.setEnabled(n_abn > 0)
        if n_abn == 0:
            self.target_combo.setCurrentIndex(0)
        self._source = source
        self._recompute()

    def _recompute(self) -> None:
        if not self._has_scores():
            self.state.operating_point = None
            self.point_label.setText("No validation scores: the trainer's default operating "
                                     "point is kept.")
            self._point.setData([], [])
            return
        target = str(self.target_combo.currentData())
        point = choose_operating_point(self._scores, self._labels, target,
                                       self.target_spin.value(), self._source)
        self.state.operating_point = point
        m = metrics_at_threshold(self._scores, self._labels, point["threshold"])
        cis = bootstrap_rates(self._scores, self._labels, point["threshold"], n_boot=1000)

        def rate(name: str) -> str:
            if point[name] is None:
                return "n/a"
            ci = cis[name]
            return f"{point[name]:.2f} (95 % interval {ci.low:.2f}-{ci.high:.2f})"

        self.point_label.setText(
            f"Flag a study when its score ≥ <b>{point['threshold']:.1f}</b>.<br>On the validation "
            f"set: sensitivity {rate('sensitivity')}, specificity {rate('specificity')} "
            f"({m.tp} of {m.tp + m.fn} abnormal and {m.fp} of {m.fp + m.tn} normal images "
            "flagged).")
        if point["sensitivity"] is not None and point["specificity"] is not None:
            self._point.setData([1.0 - point["specificity"]], [point["sensitivity"]])
        else:
            self._point.setData([], [])

    def _has_scores(self) -> bool:
        return bool(self._scores) and any(y == 0 for y in self._labels)

    def set_target(self, target: str, value: float) -> None:
        """Choose the rule programmatically (tests, scripted use)."""
        self.target_combo.setCurrentIndex(0 if target == SPECIFICITY else 1)
        self.target_spin.setValue(value)
        self._recompute()
