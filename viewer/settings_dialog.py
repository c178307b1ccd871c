"""File ▸ Settings: compute device, compilation, analysis on display, anonymised exports.

The device list is the one the scorer accepts; "auto" prefers CUDA, then Apple MPS,
then the CPU. Devices this machine lacks are still offered (a forced device that is
missing is reported when the model is loaded) but marked as not found.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from viewer.settings import DEVICES, AppSettings


def available_devices() -> dict[str, bool]:
    """Which devices this machine has (torch is imported only when asked)."""
    found = {"auto": True, "cpu": True, "cuda": False, "mps": False}
    try:
        import torch

        found["cuda"] = bool(torch.cuda.is_available())
        mps = getattr(torch.backends, "mps", None)
        found["mps"] = bool(mps is not None and mps.is_available())
    except ImportError:
        pass
    return found


class SettingsDialog(QDialog):
    """Edits an :class:`AppSettings`; values are written only on OK."""

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        found = available_devices()
        self.device = QComboBox()
        for name in DEVICES:
            label = name if found.get(name) else f"{name} (not found on this machine)"
            self.device.addItem(label, name)
        self.device.setCurrentIndex(DEVICES.index(settings.device))
        self.auto_analyse = QCheckBox("Analyse each image when it is shown")
        self.auto_analyse.setChecked(settings.auto_analyse)
        self.compile = QCheckBox("Compile the model for this computer (about 20 % faster)")
        self.compile.setToolTip("Compiling takes 15 s to a minute after the model loads and "
                                "runs in the background: images are scored uncompiled "
                                "meanwhile. Needs a C++ compiler; without one the status "
                                "bar says so and scoring stays uncompiled.")
        self.compile.setChecked(settings.compile_model)
        self.anonymise = QCheckBox("Anonymise DICOM and CSV exports by default")
        self.anonymise.setChecked(settings.anonymise_exports)
        note = QLabel("Changing the device or compilation reloads the model.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Compute device", self.device)
        form.addRow(note)
        form.addRow(self.compile)
        form.addRow(self.auto_analyse)
        form.addRow(self.anonymise)
        form.addRow(buttons)

    def selected_device(self) -> str:
        """The device chosen in the combo box."""
        return str(self.device.currentData())

    def accept(self) -> None:
        """Write the choices to the settings and close."""
        self._settings.device = self.selected_device()
        self._settings.auto_analyse = self.auto_analyse.isChecked()
        self._settings.compile_model = self.compile.isChecked()
        self._settings.anonymise_exports = self.anonymise.isChecked()
        super().accept()
