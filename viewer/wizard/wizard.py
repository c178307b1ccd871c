"""The training wizard: fine-tune SQUID on the site's own normal studies in five steps.

Data -> Settings -> Training -> Validation -> Save (product.md, "Training wizard").
The pages share a :class:`~viewer.wizard.state.WizardState`; training and the time
estimate run in separate processes, so the viewer stays responsive and survives a
crash of the training. Each run gets a folder under ``<data dir>/runs/`` for its
job, checkpoints and model file; it is removed once the model is saved.
"""

from __future__ import annotations

import datetime as dt

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QWidget, QWizard

from squid_core.library import ModelLibrary
from viewer.wizard.data_page import DataPage
from viewer.wizard.save_page import SavePage
from viewer.wizard.settings_page import SettingsPage
from viewer.wizard.state import WizardState
from viewer.wizard.train_page import TrainPage
from viewer.wizard.validate_page import ValidatePage


class TrainingWizard(QWizard):
    """Five-step wizard that trains, validates, saves and activates a model.

    Signals:
        modelSaved(str): the library id of the new model, after Finish.
        activeModelChanged(str): the path of the new active model, when the user
            chose to activate it; the main window loads it for scoring.
    """

    modelSaved = Signal(str)  # noqa: N815 (Qt signal naming)
    activeModelChanged = Signal(str)  # noqa: N815 (Qt signal naming)

    def __init__(self, library: ModelLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(imageAxisOrder="row-major")
        self.library = library
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        self.state = WizardState(run_dir=library.data_dir / "runs" / stamp)
        self.setWindowTitle("Train a model on this site's studies")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, False)
        self.data_page = DataPage(self.state)
        self.settings_page = SettingsPage(self.state, library)
        self.train_page = TrainPage(self.state)
        self.validate_page = ValidatePage(self.state)
        self.save_page = SavePage(self.state, library)
        for page in (self.data_page, self.settings_page, self.train_page,
                     self.validate_page, self.save_page):
            self.addPage(page)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Save")
        self.resize(1100, 780)
        self.finished.connect(self._on_finished)

    def _on_finished(self, result: int) -> None:
        self._stop_processes()
        entry = self.save_page.saved
        if result == QWizard.DialogCode.Accepted and entry is not None:
            self.modelSaved.emit(entry.id)
            if self.save_page.activate_check.isChecked():
                self.activeModelChanged.emit(str(entry.path))

    def _stop_processes(self) -> None:
        self.settings_page.process.shutdown()
        self.train_page.process.shutdown()

    def reject(self) -> None:
        """Cancel (or Esc) stops any running training; its checkpoints stay on disk."""
        self._stop_processes()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self._stop_processes()
        super().closeEvent(event)
