"""The Model menu: open a model file, the model library, the training wizard, model
information. Whatever model is chosen is handed to ``window.load_model`` (the session
describes it and the analysis service loads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog

from squid_core.library import bundled_model_path as default_model_path


class ModelActions(QObject):
    """The Model menu of the main window ``window`` (its session, settings, ``load_model``,
    ``show_error`` and ``show_info``)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        #: Callable returning a ``ModelLibrary``; None = the user's data folder (tests
        #: replace it to keep to a temporary folder).
        self.library_factory: Any = None
        #: The training wizard, once opened.
        self.wizard: Any = None

    def library(self) -> Any:
        """The model library (``squid_core.library.ModelLibrary``)."""
        if self.library_factory is not None:
            return self.library_factory()
        from squid_core.library import ModelLibrary

        return ModelLibrary()

    def open_model_dialog(self) -> None:
        """Model ▸ Open model file."""
        start = Path(self.window.settings.model_path or default_model_path()).parent
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model file", str(start),
                                              "SQUID model (*.safetensors);;All files (*)")
        if path:
            self.window.load_model(path)

    def open_model_library(self) -> None:
        """Model ▸ Model library: the activated model is loaded."""
        try:
            from viewer.library import ModelLibraryDialog

            dialog = ModelLibraryDialog(self.library(), parent=self.window)
        except Exception as exc:  # a missing or broken library must not take the viewer down
            self.window.show_error("Model library unavailable", f"{type(exc).__name__}: {exc}")
            return
        dialog.activeModelChanged.connect(self._on_active_model_changed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def open_training_wizard(self) -> None:
        """Model ▸ Train: the wizard's new model is loaded when activated."""
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            return
        try:
            from viewer.wizard import TrainingWizard

            self.wizard = TrainingWizard(self.library(), parent=self.window)
        except Exception as exc:  # a missing or broken wizard must not take the viewer down
            self.window.show_error("Training wizard unavailable", f"{type(exc).__name__}: {exc}")
            return
        self.wizard.activeModelChanged.connect(self._on_active_model_changed)
        self.wizard.open()

    def show_model_info(self) -> None:
        """Model ▸ Model information: the session's model and operating point."""
        m, op = self.window.session.model, self.window.session.operating_point
        if m is None:
            self.window.show_info("Model", "No model loaded. Model ▸ Open model file… (Ctrl+M).")
            return
        self.window.show_info("Model", "\n".join([
            f"Name: {m.name}", f"Version: {m.version}", f"File: {m.path}",
            f"Device: {m.device}", f"Operating point: {op.name if op else 'none set'}",
            f"Calibrated on normal images: {'yes' if m.calibrated else 'no'}",
            f"Heatmap scale: 0–{m.heatmap_scale_max or '?'} {m.heatmap_units}",
        ]))

    def _on_active_model_changed(self, path: str) -> None:
        """The library or the wizard activated a model; "" means none is left."""
        if path:
            self.window.load_model(path)
