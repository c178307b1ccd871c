"""Frame slider for multi-frame images (hidden for single frames)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget


class FrameSlider(QWidget):
    """A slider and "frame i / n" label; emits ``frameChanged(index)`` (0-based)."""

    frameChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Frame"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_value)
        self.set_frames(1)

    def set_frames(self, count: int, current: int = 0) -> None:
        """Number of frames; the widget hides itself when there is only one."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(min(max(current, 0), max(count - 1, 0)))
        self.slider.blockSignals(False)
        self._count = max(count, 1)
        self._update_label()
        self.setVisible(count > 1)

    @property
    def frame(self) -> int:
        """The selected frame (0-based)."""
        return self.slider.value()

    def step(self, delta: int) -> None:
        """Move by ``delta`` frames, clamped to the range."""
        self.slider.setValue(self.slider.value() + delta)

    def _update_label(self) -> None:
        self.label.setText(f"{self.slider.value() + 1} / {self._count}")

    def _on_value(self, value: int) -> None:
        self._update_label()
        self.frameChanged.emit(value)
