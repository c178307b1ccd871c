"""Step 3 of the training wizard: the run itself, live.

The run is a separate process (:class:`~viewer.wizard.process_client.TrainingProcess`);
this page only displays its events: loss curves and validation AUC (pyqtgraph),
sample reconstructions after each epoch, progress and ETA. Pause, resume and cancel
are commands to the process. If the process dies, the page says so and offers to
resume from the last epoch checkpoint; the viewer itself is unaffected.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from viewer.wizard.process_client import TrainingProcess
from viewer.wizard.settings_page import format_duration
from viewer.wizard.state import WizardState

#: Colours of the loss curves, by loss name (others get a default pen).
LOSS_PENS = {"student": "#3d8fd1", "d": "#e0544b", "g_adv": "#f0c674", "teacher": "#4caf7a",
             "distill": "#b48ead", "g": "#a0a4aa"}
SHOWN_LOSSES = ("student", "teacher", "distill", "g_adv", "d")


def decode_png(b64: str) -> np.ndarray:
    """A base64 PNG from the worker as a (h, w) float32 image in [0, 1]."""
    import cv2

    buf = np.frombuffer(base64.b64decode(b64), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("undecodable sample image")
    return img.astype(np.float32) / 255.0


class TrainPage(QWizardPage):
    """Live view of a training run with pause / resume / cancel and crash recovery."""

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.process = TrainingProcess(self)
        self.process.event.connect(self._on_event)
        self.process.failed.connect(self._on_failed)
        self.process.stopped.connect(lambda _code: self._update_buttons())
        self.finished_status: str | None = None
        self.error_message = ""
        self.checkpoint: str | None = None
        self.events: list[dict] = []
        self._loss_x: list[int] = []
        self._loss_y: dict[str, list[float]] = {}
        self._auc: list[tuple[int, float]] = []
        self._t0 = 0.0
        self._step0 = 0
        self._paused = False
        self.setTitle("3. Training")
        self.setSubTitle("Training runs in its own process: the viewer stays usable. A checkpoint "
                         "is written after every epoch; cancelling never changes the active model.")

        self.status_label = QLabel("Not started.")
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.detail_label = QLabel("")
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e0544b;")
        self.error_label.hide()

        self.loss_plot = pg.PlotWidget(title="Losses (weighted, per step)")
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self.auc_plot = pg.PlotWidget(title="Validation AUC per epoch")
        self.auc_plot.setYRange(0.0, 1.0)
        self.auc_plot.setLabel("bottom", "epoch")
        self.auc_plot.showGrid(x=True, y=True, alpha=0.2)
        self._auc_curve = self.auc_plot.plot([], [], pen=pg.mkPen("#4caf7a", width=2),
                                             symbol="o", symbolBrush="#4caf7a", symbolSize=6)

        self.samples = pg.GraphicsLayoutWidget()
        self.samples.setMinimumHeight(150)
        self._sample_items: list[pg.ImageItem] = []
        self.samples_label = QLabel("Sample reconstructions (top: input, bottom: "
                                    "reconstruction) appear after each epoch.")

        self.pause_btn = QPushButton("Pause")
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.cancel_btn = QPushButton("Cancel training")
        self.cancel_btn.clicked.connect(self.cancel)
        self.resume_btn = QPushButton("Resume from last checkpoint")
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.restart_btn = QPushButton("Start again")
        self.restart_btn.clicked.connect(lambda: self.start(resume=False))
        buttons = QHBoxLayout()
        for b in (self.pause_btn, self.cancel_btn, self.resume_btn, self.restart_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)

        plots = QSplitter()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.auc_plot)
        plots.setSizes([600, 300])
        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.error_label)
        layout.addWidget(plots, 3)
        layout.addWidget(self.samples_label)
        layout.addWidget(self.samples, 2)
        layout.addLayout(buttons)
        self._update_buttons()

    # -------------------------------------------------------------- control
    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        if not self.process.is_running() and self.state.model_path is None:
            self.start(resume=False)

    def cleanupPage(self) -> None:  # noqa: N802 (Qt override)
        """Going back stops a running training (its checkpoints stay); coming forward again
        starts a new run with the settings as they are then."""
        self.process.shutdown()
        self.state.model_path = None
        self.state.validation = None

    def start(self, resume: bool = False) -> None:
        """Start (or resume) the run described by the wizard state."""
        if self.process.is_running():
            return
        self.state.model_path = None
        self.state.validation = None
        self.finished_status = None
        self.error_message = ""
        self.error_label.hide()
        self._paused = False
        self.pause_btn.setText("Pause")
        if not resume:
            self._reset_plots()
        self.status_label.setText("Starting the training process…")
        self.process.start(self.state.job(mode="train", resume=resume),
                           self.state.run_dir / "train.json")  # type: ignore[operator]
        self._update_buttons()
        self.completeChanged.emit()

    def toggle_pause(self) -> None:
        self.process.send("resume" if self._paused else "pause")

    def cancel(self) -> None:
        self.process.send("cancel")
        self.status_label.setText("Cancelling: stopping before the next step…")

    def is_running(self) -> bool:
        return self.process.is_running()

    def _update_buttons(self) -> None:
        running = self.process.is_running()
        self.pause_btn.setEnabled(running)
        self.cancel_btn.setEnabled(running)
        can_resume = not running and self.checkpoint is not None and self.state.model_path is None
        self.resume_btn.setVisible(can_resume)
        ended = self.finished_status is not None or bool(self.error_message)
        self.restart_btn.setVisible(not running and self.state.model_path is None and ended)

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return self.state.model_path is not None and not self.process.is_running()

    # --------------------------------------------------------------- events
    def _on_event(self, ev: dict) -> None:
        self.events.append(ev)
        handler = getattr(self, f"_ev_{ev['event']}", None)
        if handler is not None:
            handler(ev)

    def _ev_status(self, ev: dict) -> None:
        self.status_label.setText(str(ev.get("message", "")).capitalize())

    def _ev_data(self, ev: dict) -> None:
        self.status_label.setText(
            f"{ev['n_train']} training images; validation: {ev['n_val_normal']} normal, "
            f"{ev['n_val_abnormal']} abnormal ({ev['validation_source']}).")

    def _ev_start(self, ev: dict) -> None:
        self._t0 = time.monotonic()
        self._step0 = int(ev.get("start_epoch", 0)) * int(ev.get("steps_per_epoch") or 0)
        self.progress.setRange(0, max(1, int(ev.get("total_steps") or 1)))
        self.auc_plot.setXRange(0.5, self.state.settings.epochs + 0.5, padding=0)
        self.progress.setValue(self._step0)
        threads = f" ({ev['threads']} CPU threads)" if ev.get("threads") and \
            str(ev.get("device")) == "cpu" else ""
        self.status_label.setText(f"Training on {ev.get('device')}{threads}"
                                  + (f", resumed at epoch {ev['start_epoch'] + 1}"
                                     if ev.get("start_epoch") else "") + ".")

    def _ev_progress(self, ev: dict) -> None:
        gs, total = int(ev["global_step"]), int(ev.get("total_steps") or 0)
        self.progress.setValue(min(gs, self.progress.maximum()))
        done = gs - self._step0
        eta = ""
        if done > 0 and total:
            per_step = (time.monotonic() - self._t0) / done
            eta = f" · ETA {format_duration(per_step * max(0, total - gs))}"
        rate = ev.get("images_per_s")
        epochs = self.state.settings.epochs
        self.detail_label.setText(
            f"Epoch {ev['epoch'] + 1}/{epochs} · step {ev['step']}/{ev['steps']}"
            + (f" · {rate:.1f} images/s" if rate else "") + eta)
        self._loss_x.append(gs)
        for name in SHOWN_LOSSES:
            value = (ev.get("losses") or {}).get(name)
            series = self._loss_y.setdefault(name, [])
            series.append(float(value) if value is not None and value > 0 else np.nan)
        self._redraw_losses()

    def _ev_epoch_end(self, ev: dict) -> None:
        if ev.get("val_auc") is not None:
            self._auc.append((int(ev["epoch"]) + 1, float(ev["val_auc"])))
            xs, ys = zip(*self._auc, strict=True)
            self._auc_curve.setData(list(xs), list(ys))
        self.status_label.setText(
            f"Epoch {ev['epoch'] + 1} done in {format_duration(ev['seconds'])}"
            + (f", validation AUC {ev['val_auc']:.3f}" if ev.get("val_auc") is not None else "")
            + "; checkpoint saved.")
        self.checkpoint = self._checkpoint_on_disk() or self.checkpoint

    def _ev_samples(self, ev: dict) -> None:
        inputs = [decode_png(b) for b in ev.get("inputs", [])]
        recons = [decode_png(b) for b in ev.get("recons", [])]
        self.show_samples(inputs, recons)
        self.samples_label.setText(f"Sample reconstructions after epoch {ev['epoch'] + 1} "
                                   "(top: input, bottom: reconstruction).")

    def _ev_paused(self, _ev: dict) -> None:
        self._paused = True
        self.pause_btn.setText("Resume")
        self.status_label.setText("Paused (after the current step).")

    def _ev_resumed(self, _ev: dict) -> None:
        self._paused = False
        self.pause_btn.setText("Pause")
        self.status_label.setText("Training resumed.")

    def _ev_validation(self, ev: dict) -> None:
        self.state.validation = ev

    def _ev_finished(self, ev: dict) -> None:
        self.finished_status = str(ev.get("status"))
        self.checkpoint = ev.get("checkpoint")
        if ev.get("model_path"):
            self.state.model_path = Path(ev["model_path"])
            self.progress.setValue(self.progress.maximum())
            self.status_label.setText("Training finished: the model is calibrated. Next: "
                                      "validate and choose the operating point.")
        else:
            where = ("you can resume from the last epoch checkpoint"
                     if self.checkpoint else "no epoch was completed, so there is no checkpoint")
            self.status_label.setText(f"Training cancelled. The active model is unchanged; "
                                      f"{where}.")
        self._update_buttons()
        self.completeChanged.emit()

    def _ev_error(self, ev: dict) -> None:
        self._show_error(f"Training failed: {ev.get('message')}")

    def _on_failed(self, message: str) -> None:
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.error_message = message
        self.error_label.setText(message)
        self.error_label.show()
        self.status_label.setText("Training stopped with an error; the active model is "
                                  "unchanged.")
        self.checkpoint = self.checkpoint or self._checkpoint_on_disk()
        self._update_buttons()
        self.completeChanged.emit()

    def _checkpoint_on_disk(self) -> str | None:
        if self.state.run_dir is None:
            return None
        ck = self.state.run_dir / "checkpoints" / "last.pt"
        return str(ck) if ck.is_file() else None

    # -------------------------------------------------------------- drawing
    def _reset_plots(self) -> None:
        self._loss_x.clear()
        self._loss_y.clear()
        self._auc.clear()
        self._auc_curve.setData([], [])
        for curve in self._curves.values():
            curve.setData([], [])
        self.progress.setValue(0)
        self.detail_label.setText("")

    def _redraw_losses(self) -> None:
        x = np.asarray(self._loss_x, dtype=float)
        for name, ys in self._loss_y.items():
            y = np.asarray(ys, dtype=float)
            ok = np.isfinite(y)
            if not ok.any():
                continue
            curve = self._curves.get(name)
            if curve is None:
                curve = self.loss_plot.plot([], [], name=name,
                                            pen=pg.mkPen(LOSS_PENS.get(name, "#cccccc"), width=2))
                self._curves[name] = curve
            curve.setData(x[ok], y[ok])

    def show_samples(self, inputs: list[np.ndarray], recons: list[np.ndarray]) -> None:
        """Inputs on the top row, their reconstructions below, fixed levels 0..1."""
        self.samples.clear()
        self._sample_items = []
        for col, img in enumerate(inputs):
            for row, arr in enumerate((img, recons[col] if col < len(recons) else None)):
                if arr is None:
                    continue
                vb = self.samples.addViewBox(row=row, col=col, lockAspect=True, invertY=True,
                                             enableMouse=False)
                item = pg.ImageItem(arr, levels=(0.0, 1.0), axisOrder="row-major")
                vb.addItem(item)
                vb.autoRange(padding=0.02)
                self._sample_items.append(item)

    def sample_count(self) -> int:
        return len(self._sample_items)
