"""Step 5 of the training wizard: name, notes, save into the library, activate.

Saving goes through :class:`squid_core.library.ModelLibrary`, which validates the
file with ``load_model``, writes name, notes and the chosen operating point into
the model file's metadata (one atomic rewrite) and, on request, makes it the active
model. The wizard then announces the new active model so the viewer can load it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from squid_core.library import LibraryError, ModelEntry, ModelLibrary
from viewer.wizard.state import WizardState


def operating_point_updates(state: WizardState) -> dict[str, Any]:
    """Metadata changes for the chosen operating point: added to the trainer's points
    (same-named ones replaced) and made the default. Empty when none was chosen."""
    chosen = state.operating_point
    if not chosen:
        return {}
    trained = list((state.validation or {}).get("operating_points") or [])
    points = [p for p in trained if p.get("name") != chosen["name"]] + [chosen]
    return {"operating_points": points, "default_operating_point": chosen["name"]}


class SavePage(QWizardPage):
    """Name and notes; saving happens when the user presses Finish."""

    def __init__(self, state: WizardState, library: ModelLibrary,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.library = library
        self.saved: ModelEntry | None = None
        self.setTitle("5. Save and activate")
        self.setSubTitle("The model joins the model library (Model ▸ Model library…), where it "
                         "can be exported, renamed or deleted later.")
        self.setFinalPage(True)

        self.name_edit = QLineEdit()
        self.name_edit.textChanged.connect(lambda _t: self.completeChanged.emit())
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("e.g. site, scanners, period of the studies, purpose")
        self.activate_check = QCheckBox("Use this model now (make it the active model)")
        self.activate_check.setChecked(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e0544b;")
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Notes:", self.notes_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.activate_check)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802 (Qt override)
        if not self.name_edit.text():
            self.name_edit.setText(f"Site model {dt.date.today().isoformat()}")
        s = self.state.settings
        start = f"fine-tuned from {s.init_model_name}" if s.init_model else f"{s.preset} preset"
        op = self.state.operating_point
        v = self.state.validation or {}
        lines = [
            f"Trained on {len(self.state.data.normal_files)} normal images, {start}, "
            f"{s.epochs} epochs, {s.recipe} recipe.",
            f"Validation AUC {v['auc']:.3f}." if v.get("auc") is not None else
            "No validation AUC.",
            f"Operating point: {op['name']} (flag when score ≥ {op['threshold']:.1f})."
            if op else "Operating point: the trainer's default.",
        ]
        self.summary_label.setText("\n".join(lines))
        self.error_label.setText("")

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.name_edit.text().strip()) and self.state.model_path is not None

    def validatePage(self) -> bool:  # noqa: N802 (Qt override)
        """Save (and activate) when Finish is pressed; stay on the page if it fails."""
        if self.saved is not None:
            return True
        assert self.state.model_path is not None
        try:
            entry = self.library.add_trained(
                self.state.model_path, self.name_edit.text().strip(),
                self.notes_edit.toPlainText().strip(), operating_point_updates(self.state),
            )
            if self.activate_check.isChecked():
                self.library.activate(entry.id)
        except (LibraryError, OSError) as exc:
            self.error_label.setText(f"Could not save the model: {exc}")
            return False
        self.saved = entry
        if self.state.run_dir is not None:
            shutil.rmtree(self.state.run_dir, ignore_errors=True)  # checkpoints no longer needed
        return True
