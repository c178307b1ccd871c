"""Step 2 of the training wizard: where to start from, preset, recipe, epochs, device,
time estimate.

The time per epoch is measured, not guessed: "Measure" runs a few real training
steps in a separate worker process (``mode: "estimate"``) with exactly these
settings and extrapolates to one epoch, so the user knows what they commit to.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from squid_core.library import ModelLibrary
from squid_core.training.recipes import RECIPES, recipe_names
from viewer.wizard.process_client import TrainingProcess
from viewer.wizard.state import WizardState

PRESET_HELP = {
    "compact": "compact — half-width SQUID, about 4x faster; the sensible choice on a CPU",
    "paper": "paper — the published configuration (CVPR 2023); best with a GPU",
}


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``; hours when long."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def default_training_threads(cores: int | None = None) -> int:
    """All cores but one (left to the viewer), at least one."""
    n = os.cpu_count() if cores is None else cores
    return max(1, (n or 1) - 1)


def available_devices() -> list[str]:
    """``auto`` and ``cpu``, plus ``cuda``/``mps`` when this machine has them."""
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


class SettingsPage(QWizardPage):
    """Fine-tune or scratch, preset, epochs, batch size, step cap, device, measured estimate."""

    def __init__(self, state: WizardState, library: ModelLibrary,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.library = library
        self.estimate: dict | None = None
        self._estimate_error = ""
        self._active_path: Path | None = None
        self._active_name = ""
        self.process = TrainingProcess(self)
        self.process.event.connect(self._on_event)
        self.process.failed.connect(self._on_failed)
        self.setTitle("2. Settings")
        self.setSubTitle("Fine-tuning the current model needs fewer epochs than training from "
                         "scratch. Measure the time per epoch before starting.")

        self.finetune_radio = QRadioButton("Fine-tune the active model")
        self.scratch_radio = QRadioButton("Start from scratch")
        group = QButtonGroup(self)
        group.addButton(self.finetune_radio)
        group.addButton(self.scratch_radio)
        self.finetune_radio.toggled.connect(self._start_changed)
        start_box = QGroupBox("Starting point")
        sl = QVBoxLayout(start_box)
        sl.addWidget(self.finetune_radio)
        sl.addWidget(self.scratch_radio)

        self.preset_combo = QComboBox()
        for key, text in PRESET_HELP.items():
            self.preset_combo.addItem(text, key)
        self.recipe_combo = QComboBox()
        for name in recipe_names():
            self.recipe_combo.addItem(RECIPES[name].label, name)
        self.recipe_combo.setToolTip(
            "What the networks see in training and which weights are kept. The robust "
            "recipe makes the score depend less on framing and exposure "
            "(docs/robustness.md); the architecture and losses are the paper's in both.")
        self.recipe_note = QLabel()
        self.recipe_note.setWordWrap(True)
        self.recipe_note.setObjectName("recipeNote")
        self.recipe_note.setMinimumWidth(620)
        self.recipe_combo.currentIndexChanged.connect(self._show_recipe)
        self._show_recipe()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(20)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(2, 128)
        self.batch_spin.setValue(16)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 10_000_000)
        self.steps_spin.setSpecialValueText("no limit")
        self.steps_spin.setToolTip("Stop after this many training steps: a quick trial run.")
        self.device_combo = QComboBox()
        self.device_combo.addItems(available_devices())
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(1, max(1, os.cpu_count() or 1))
        self.threads_spin.setValue(default_training_threads())
        self.threads_spin.setToolTip(
            "CPU threads for training. One core is left to the viewer by default: with "
            "every core busy, training and the viewer slow each other down sharply.")
        for spin in (self.epochs_spin, self.batch_spin, self.steps_spin, self.threads_spin):
            spin.setMinimumWidth(140)
        form_box = QGroupBox("Training")
        form = QFormLayout(form_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Preset:", self.preset_combo)
        form.addRow("Recipe:", self.recipe_combo)
        form.addRow("", self.recipe_note)
        form.addRow("Epochs:", self.epochs_spin)
        form.addRow("Batch size:", self.batch_spin)
        form.addRow("Step limit:", self.steps_spin)
        form.addRow("Device:", self.device_combo)
        form.addRow("CPU threads:", self.threads_spin)
        for w in (self.preset_combo, self.recipe_combo, self.device_combo):
            w.currentIndexChanged.connect(self._settings_changed)
        for s in (self.epochs_spin, self.batch_spin, self.steps_spin, self.threads_spin):
            s.valueChanged.connect(self._settings_changed)

        self.measure_btn = QPushButton("Measure time per epoch")
        self.measure_btn.clicked.connect(self.start_estimate)
        self.estimate_label = QLabel("Not measured yet: a few training steps take ~10-60 s.")
        self.estimate_label.setWordWrap(True)
        est_box = QGroupBox("Time estimate")
        el = QHBoxLayout(est_box)
        el.addWidget(self.measure_btn)
        el.addWidget(self.estimate_label, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(start_box)
        layout.addWidget(form_box)
        layout.addWidget(est_box)
        layout.addStretch(1)

    # ---------------------------------------------------------------- state
    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        """Offer fine-tuning when there is an active model; keep earlier choices on revisits."""
        active = self.library.active_model()
        first_visit = not (self.finetune_radio.isChecked() or self.scratch_radio.isChecked())
        if active is not None:
            self.finetune_radio.setText(f"Fine-tune the active model: {active.name}"
                                        + (f" ({active.preset})" if active.preset else ""))
            self.finetune_radio.setEnabled(True)
            if first_visit:
                self.finetune_radio.setChecked(True)
            self._active_path, self._active_name = active.path, active.name
        else:
            self.finetune_radio.setText("Fine-tune the active model (no model installed)")
            self.finetune_radio.setEnabled(False)
            self.scratch_radio.setChecked(True)
            self._active_path, self._active_name = None, ""
        self._start_changed()

    def _show_recipe(self) -> None:
        recipe = RECIPES[str(self.recipe_combo.currentData())]
        self.recipe_note.setText(recipe.title[0].upper() + recipe.title[1:] + ".")

    def _start_changed(self) -> None:
        self.preset_combo.setEnabled(self.scratch_radio.isChecked())
        self.preset_combo.setToolTip(
            "" if self.scratch_radio.isChecked()
            else "Fine-tuning keeps the architecture of the active model.")
        self._settings_changed()

    def apply_to_state(self) -> None:
        """Copy the widgets' values into ``state.settings``."""
        s = self.state.settings
        finetune = self.finetune_radio.isChecked() and self.finetune_radio.isEnabled()
        s.init_model = self._active_path if finetune else None
        s.init_model_name = self._active_name if finetune else ""
        s.preset = str(self.preset_combo.currentData())
        s.recipe = str(self.recipe_combo.currentData())
        s.epochs = self.epochs_spin.value()
        s.batch_size = self.batch_spin.value()
        s.max_steps = self.steps_spin.value() or None
        s.device = self.device_combo.currentText()
        s.threads = self.threads_spin.value()

    def _settings_changed(self) -> None:
        self.apply_to_state()
        if self.estimate is not None:
            self.estimate = None
            self.estimate_label.setText("Settings changed: measure again.")

    def validatePage(self) -> bool:  # noqa: N802 (Qt override)
        self.apply_to_state()
        self.process.shutdown()
        return True

    # ------------------------------------------------------------- estimate
    def start_estimate(self) -> None:
        """Run a few timed steps in a worker process with the current settings."""
        if self.process.is_running():
            return
        self.apply_to_state()
        assert self.state.run_dir is not None
        self.estimate = None
        self._estimate_error = ""
        self.measure_btn.setEnabled(False)
        self.estimate_label.setText("Measuring: loading the images and timing a few steps…")
        self.process.start(self.state.job(mode="estimate"), self.state.run_dir / "estimate.json")

    def is_estimating(self) -> bool:
        return self.process.is_running()

    def _on_event(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "progress":
            self.estimate_label.setText(
                f"Measuring: step {ev.get('step')} of {ev.get('total_steps')}…")
        elif kind == "estimate":
            self.estimate = ev
            self._show_estimate(ev)
        elif kind == "error":
            self._estimate_error = str(ev.get("message"))
            self.estimate_label.setText(f"Could not measure: {self._estimate_error}")
        if kind in ("finished", "error"):
            self.measure_btn.setEnabled(True)

    def _on_failed(self, message: str) -> None:
        self.measure_btn.setEnabled(True)
        self.estimate_label.setText(f"Could not measure: {message}")

    def _show_estimate(self, ev: dict) -> None:
        per_epoch = ev.get("seconds_per_epoch")
        if per_epoch is None:
            self.estimate_label.setText("Could not measure: no step completed.")
            return
        s = self.state.settings
        steps_total = ev["steps_per_epoch"] * s.epochs
        if s.max_steps:
            steps_total = min(steps_total, s.max_steps)
        total = ev["seconds_per_step"] * steps_total
        self.estimate_label.setText(
            f"≈ <b>{format_duration(per_epoch)} per epoch</b> "
            f"({ev['seconds_per_step']:.2f} s per step × {ev['steps_per_epoch']} steps of "
            f"{ev['batch_size']} images on {ev['device']}); the whole run ≈ "
            f"{format_duration(total)} plus validation."
        )
