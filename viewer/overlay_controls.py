"""Heatmap overlay controls: colormap, opacity, hide-below threshold, toggle, colour bar.

The colour bar shows the model's fixed scale (0 .. ``heatmap_scale_max`` in
``heatmap_units``, e.g. "sigma above normal"): it is set per model, never per image, so
the same colour means the same thing on every study. The colours, of the bar and of the
heatmap, are ``squid_core.display.colormap_lut``'s: the node's Secondary Capture uses the
same tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from squid_core.display import COLORMAPS, DEFAULT_COLORMAP, OverlaySettings, colormap_lut
from viewer.session_bridge import subscribe
from viewer.theme import MUTED, PANEL


def bar_colormap(name: str) -> pg.ColorMap:
    """The colour bar's pyqtgraph ColorMap, built from the shared lookup table of ``name``."""
    lut = colormap_lut(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut, name=name)


class OverlayControls(QWidget):
    """Widgets for the heatmap overlay; emits ``changed`` with an OverlaySettings."""

    changed = Signal(object)

    def __init__(self, settings: OverlaySettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        s = settings or OverlaySettings()
        self._scale_max = 6.0
        self._units = "sigma above normal"
        self._has_model = False

        self.visible = QCheckBox("Show heatmap  (O)")
        self.visible.setChecked(s.visible)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setCurrentText(s.colormap if s.colormap in COLORMAPS else DEFAULT_COLORMAP)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(s.opacity * 100))
        self.opacity_label = QLabel()
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(1)
        self.threshold.setSingleStep(0.5)
        self.threshold.setRange(0.0, 1000.0)
        self.threshold.setValue(s.threshold)
        self.threshold.setToolTip("Heatmap values below this are not drawn")

        opacity_row = QHBoxLayout()
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_label)
        form = QFormLayout()
        form.addRow(self.visible)
        form.addRow("Colormap", self.colormap)
        form.addRow("Opacity", opacity_row)
        form.addRow("Hide below", self.threshold)

        self.bar_view = pg.GraphicsLayoutWidget()
        self.bar_view.setBackground(PANEL)
        self.bar_view.setFixedHeight(70)
        self.bar = pg.ColorBarItem(values=(0, self._scale_max),
                                   colorMap=bar_colormap(self.colormap.currentText()),
                                   interactive=False, orientation="horizontal", width=14,
                                   colorMapMenu=False)
        self.bar_view.addItem(self.bar)
        self.bar_label = QLabel()
        self.bar_label.setStyleSheet(f"color: {MUTED};")
        self.bar_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.bar_view)
        layout.addWidget(self.bar_label)

        self.visible.toggled.connect(self._emit)
        self.colormap.currentTextChanged.connect(self._on_colormap)
        self.opacity.valueChanged.connect(self._emit)
        self.threshold.valueChanged.connect(self._emit)
        self._update_labels()

    def settings(self) -> OverlaySettings:
        """The current overlay settings."""
        return OverlaySettings(
            colormap=self.colormap.currentText(),
            opacity=self.opacity.value() / 100.0,
            threshold=float(self.threshold.value()),
            visible=self.visible.isChecked(),
        )

    def lut(self) -> np.ndarray:
        """Lookup table of the chosen colormap."""
        return self.settings().lut()

    def set_scale(self, scale_max: float | None, units: str | None) -> None:
        """The model's fixed heatmap scale and units (from AnalysisResult or metadata)."""
        if scale_max and scale_max > 0:
            self._scale_max = float(scale_max)
        if units:
            self._units = str(units)
        self._has_model = True
        # The threshold is in the model's units: keep it inside the model's scale.
        self.threshold.setRange(0.0, self._scale_max)
        self.threshold.setSingleStep(max(round(self._scale_max / 20.0, 2), 0.01))
        self.threshold.setDecimals(2 if self._scale_max < 10 else 1)
        if self.threshold.value() >= self._scale_max:
            self.threshold.setValue(round(self._scale_max / 3.0, 2))
        self.bar.setLevels(low=0.0, high=self._scale_max)
        self._update_labels()

    def observe(self, session: Any) -> None:
        """Follow ``session``'s model: its heatmap scale and units, or none."""
        subscribe(session.model_changed, self._on_model_changed, self)

    def _on_model_changed(self, model: Any) -> None:
        if model is None:
            self.set_no_model()
        else:
            self.set_scale(model.heatmap_scale_max, model.heatmap_units)

    def set_no_model(self) -> None:
        """No model loaded: there is no heatmap scale to show."""
        self._has_model = False
        self._update_labels()

    def toggle_visible(self) -> None:
        """Show/hide the heatmap (the toggle key)."""
        self.visible.setChecked(not self.visible.isChecked())

    def _on_colormap(self, name: str) -> None:
        self.bar.setColorMap(bar_colormap(name))
        self._emit()

    def _update_labels(self) -> None:
        self.opacity_label.setText(f"{self.opacity.value()}%")
        self.bar_view.setVisible(self._has_model)
        if not self._has_model:
            self.bar_label.setText("No model loaded: no heatmap.")
            return
        self.bar_label.setText(
            f"0 – {self._scale_max:.3g} {self._units} (fixed for this model; "
            f"values below {self.threshold.value():g} hidden)")

    def _emit(self, *_: object) -> None:
        self._update_labels()
        self.changed.emit(self.settings())
