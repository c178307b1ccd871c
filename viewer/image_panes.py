"""Three synchronized image panes: Original | Reconstruction | Heatmap over the original.

One :class:`ImagePanes` widget owns three pyqtgraph view boxes whose X and Y ranges are
linked, so zoom (wheel), pan (left drag), fit and 1:1 act on all three. Orientation,
inversion and window/level live in one :class:`~squid_core.display.ViewState` and every
render applies it to every pane. The rules themselves (which source pixel is under the
cursor, what a preset means, how the heatmap is coloured) are pure functions in
:mod:`squid_core.display`; this module only draws.

Mouse: wheel = zoom, left drag = pan, right drag = window/level (horizontal = width,
vertical = level). The crosshair and the read-out follow the cursor in any pane.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from squid_core.display import (
    PreparedFrame,
    ValueMapping,
    ViewState,
    Window,
    grey_lut,
    heatmap_rgba,
    measured_length,
    orient,
    oriented_shape,
    prepare_frame,
    to_source,
)
from squid_core.display.screen_view import OverlayLook, grey_mode, grey_rgb, overlay_rgb_on_screen
from viewer.magnifier import Magnifier
from viewer.theme import BACKGROUND

PANE_NAMES = ("original", "reconstruction", "heatmap")
#: Reconstruction and heatmap come from a 128-px model output: they are drawn at most
#: this many pixels across (the image item is stretched to the full image size).
RESULT_DISPLAY_PIXELS = 512


def _stride(shape: tuple[int, ...]) -> int:
    """Subsampling step that brings ``shape`` to at most RESULT_DISPLAY_PIXELS across."""
    return max(1, -(-max(shape[:2]) // RESULT_DISPLAY_PIXELS))
_TITLES = {"original": "Original", "reconstruction": "Reconstruction (normal anatomy)",
           "heatmap": "Heatmap over original"}


class ImageViewBox(pg.ViewBox):
    """A view box for images: locked aspect, Y down, no context menu, right-drag = W/L."""

    sigWindowDrag = Signal(float, float)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.setBackgroundColor(BACKGROUND)

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        """Right button: report the drag in screen pixels for window/level; else pan."""
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            if delta.x() or delta.y():
                self.sigWindowDrag.emit(float(delta.x()), float(delta.y()))
            return
        super().mouseDragEvent(ev, axis)


class _Pane:
    """The graphics items of one pane (not a widget: the panes share one scene)."""

    def __init__(self, name: str, layout: pg.GraphicsLayout, col: int) -> None:
        self.name = name
        # The title is a QLabel above the scene (see ImagePanes), so that text width
        # never sets a column width: every pane gets a third.
        self.title = QLabel(_TITLES[name])
        self.title.setObjectName("paneTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.view = ImageViewBox()
        layout.addItem(self.view, row=0, col=col)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.overlay: pg.ImageItem | None = None
        pen = pg.mkPen((80, 200, 255, 150), width=1)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self.vline, self.hline):
            line.setZValue(20)
            line.hide()
            self.view.addItem(line, ignoreBounds=True)
        # A message fixed in the pane's corner (parented to the box, not to the data).
        self.message = pg.TextItem("", color=(200, 200, 200), anchor=(0, 0))
        self.message.setParentItem(self.view)
        self.message.setPos(8, 8)
        self.message.setZValue(30)


class ImagePanes(QWidget):
    """The three panes, their shared view state and the cursor read-out.

    Feed it with :meth:`set_image` (an ``ImageData``), :meth:`set_result` (an
    ``AnalysisResult`` or None) and :meth:`set_overlay`; drive it with the view methods
    (``fit``, ``one_to_one``, ``rotate``, ``flip``, ``set_invert``, ``set_window``,
    ``apply_preset``, ``reset``), which the main window binds to actions.
    """

    #: The read-out text under the cursor ("" when the cursor leaves the image).
    readoutChanged = Signal(str)
    #: The window in use (``Window`` or None for the file's own display pipeline).
    windowChanged = Signal(object)
    #: The ViewState after any change (rotation, flips, inversion, window).
    viewStateChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.ci.setSpacing(4)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.panes = {name: _Pane(name, self.graphics.ci, col) for col, name in
                      enumerate(PANE_NAMES)}
        hm = self.panes["heatmap"]
        hm.overlay = pg.ImageItem(axisOrder="row-major")
        hm.overlay.setZValue(10)
        hm.view.addItem(hm.overlay)
        grid = self.graphics.ci.layout
        for col in range(len(PANE_NAMES)):
            grid.setColumnStretchFactor(col, 1)
            grid.setColumnPreferredWidth(col, 100)
        first = self.panes["original"].view
        for pane in self.panes.values():
            if pane.view is not first:
                pane.view.setXLink(first)
                pane.view.setYLink(first)
            pane.view.sigWindowDrag.connect(self._on_window_drag)
        self.corner = pg.TextItem("", color=(220, 220, 220), anchor=(0, 0))
        self.corner.setParentItem(self.panes["original"].view)
        self.corner.setPos(8, 8)
        self.corner.setZValue(30)

        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        titles = QHBoxLayout()
        titles.setContentsMargins(0, 0, 0, 0)
        for pane in self.panes.values():
            titles.addWidget(pane.title, 1)
        layout.addLayout(titles)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.magnifier = Magnifier(self)

        self._image: Any = None
        self._frame = 0
        self._pixels: np.ndarray | None = None
        self._values: np.ndarray | None = None
        self._mapping: ValueMapping | None = None
        self._presets: list[Window] = []
        self._drag_scale = 1.0
        self._result: Any = None
        self._state = ViewState()
        self._crosshair = True
        self._overlay = OverlayLook(grey_lut(False))
        self._scale_max = 1.0
        self._values_mode = False
        self._ruler: pg.LineSegmentROI | None = None
        self._ruler_label: pg.TextItem | None = None
        self._no_result_text = "No model loaded"
        self.set_no_result_message(self._no_result_text)

    # -- data ------------------------------------------------------------------------

    @property
    def image(self) -> Any:
        """The ``ImageData`` on screen, or None."""
        return self._image

    @property
    def frame(self) -> int:
        """Index of the frame on screen."""
        return self._frame

    @property
    def state(self) -> ViewState:
        """The orientation, inversion and window applied to every pane."""
        return self._state

    @property
    def presets(self) -> list[Window]:
        """Window presets for the digit keys, in order."""
        return list(self._presets)

    @property
    def result(self) -> Any:
        """The ``AnalysisResult`` on screen, or None."""
        return self._result

    def set_image(self, image: Any, frame: int = 0, prepared: PreparedFrame | None = None) -> None:
        """Show ``image`` (an ``ImageData``, or None to clear); resets the view.

        ``prepared`` (from :func:`~squid_core.display.prepare_frame`, computed off the GUI
        thread) saves the per-frame statistics work here.
        """
        measuring = self._ruler is not None
        self.set_measuring(False)
        self._image = image
        self._result = None
        self._state = ViewState(invert=self._state.invert)
        if image is None:
            self._pixels = self._values = self._mapping = None
            self._presets = []
            for pane in self.panes.values():
                pane.image.clear()
                if pane.overlay is not None:
                    pane.overlay.clear()
            self.corner.setText("")
            self.viewStateChanged.emit(self._state)
            return
        self._load_frame(frame, prepared)
        self._render_all()
        self.fit()
        self.set_measuring(measuring)
        self.viewStateChanged.emit(self._state)
        self.windowChanged.emit(None)

    def set_frame(self, frame: int) -> None:
        """Show another frame of a multi-frame image, keeping the view."""
        if self._image is None:
            return
        frames = self._image.pixels.shape[0] if self._image.pixels.ndim == 3 else 1
        frame = min(max(int(frame), 0), frames - 1)
        if frame == self._frame:
            return
        self._load_frame(frame)
        self._result = None
        self._render_all()

    def _load_frame(self, frame: int, prepared: PreparedFrame | None = None) -> None:
        if prepared is None or prepared.frame != frame:
            prepared = prepare_frame(self._image, frame)
        self._frame = frame
        self._pixels = prepared.pixels
        self._values = prepared.values
        self._mapping = prepared.mapping
        self._presets = list(prepared.presets)
        self._drag_scale = prepared.drag_scale

    def set_result(self, result: Any) -> None:
        """Show an ``AnalysisResult`` (reconstruction and heatmap) or None."""
        self._result = result
        if result is not None:
            self._scale_max = float(getattr(result, "heatmap_scale_max", 0) or 1.0)
        self._render_results()

    def set_no_result_message(self, text: str) -> None:
        """What the reconstruction and heatmap panes say while there is no result."""
        self._no_result_text = text
        if self._result is None:
            for name in ("reconstruction", "heatmap"):
                self.panes[name].message.setText(text)

    def set_overlay(self, lut: np.ndarray, opacity: float, threshold: float,
                    visible: bool) -> None:
        """Heatmap colours (LUT (N, 3) uint8), opacity [0, 1], hide-below threshold, shown."""
        self._overlay = OverlayLook(lut, opacity, threshold, visible)
        self._render_overlay()

    @property
    def overlay_look(self) -> OverlayLook:
        """How the heatmap is drawn now (a value, for the exports)."""
        return self._overlay

    def drawn(self, pane: str) -> np.ndarray | None:
        """The grey array pane ``pane`` draws now (oriented; before levels and LUT), or
        None when it draws nothing."""
        return self.panes[pane].image.image

    def message_text(self, pane: str) -> str:
        """What pane ``pane`` ("original", "reconstruction", "heatmap") says over its
        image ("" when it says nothing): "No model loaded", "Could not open ...", ..."""
        return self.panes[pane].message.textItem.toPlainText()

    def set_message(self, pane: str, text: str) -> None:
        """Show ``text`` over pane ``pane`` ("" clears it)."""
        self.panes[pane].message.setText(text)

    def set_corner_text(self, text: str) -> None:
        """Study data drawn in the corner of the original pane ("" hides it)."""
        self.corner.setText(text)

    def set_corner_visible(self, visible: bool) -> None:
        """Show or hide the corner text (on screen only: this de-identifies nothing)."""
        self.corner.setVisible(visible)

    # -- view operations -------------------------------------------------------------

    def fit(self) -> None:
        """Fit the whole image into the panes."""
        if self._pixels is None:
            return
        rows, cols = oriented_shape(self._pixels.shape, self._state)
        self.panes["original"].view.setRange(QRectF(0, 0, cols, rows), padding=0.02)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the centre of the view."""
        view = self.panes["original"].view
        rect = view.viewRect()
        centre = rect.center()
        size = view.size()
        w, h = max(size.width(), 1.0), max(size.height(), 1.0)
        view.setRange(QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h), padding=0)

    def zoom(self, factor: float) -> None:
        """Zoom all panes about the view centre (factor > 1 zooms in)."""
        view = self.panes["original"].view
        view.scaleBy((1.0 / factor, 1.0 / factor), center=view.viewRect().center())

    def rotate(self, quarter_turns: int = 1) -> None:
        """Rotate every pane by quarter turns clockwise (negative: counter-clockwise)."""
        self._set_state(self._state.rotated(quarter_turns), refit=True)

    def flip(self, horizontal: bool) -> None:
        """Mirror every pane left-right (``horizontal``) or top-bottom."""
        if horizontal:
            self._set_state(replace(self._state, flip_h=not self._state.flip_h))
        else:
            self._set_state(replace(self._state, flip_v=not self._state.flip_v))

    def set_invert(self, invert: bool) -> None:
        """Negative display on every pane."""
        self._set_state(replace(self._state, invert=bool(invert)), data=False)

    def set_window(self, window: Window | None) -> None:
        """Window every pane (stored-value units) or, with None, use the file's pipeline."""
        self._set_state(replace(self._state, window=window), data=False)
        self.windowChanged.emit(window)

    def apply_preset(self, index: int) -> bool:
        """Window preset ``index`` (0-based); False if there is no such preset."""
        if not 0 <= index < len(self._presets):
            return False
        self.set_window(self._presets[index])
        return True

    def reset(self) -> None:
        """Back to the file's own window, no rotation, no flip, no inversion, fitted."""
        self._state = ViewState()
        self._render_all()
        self.fit()
        self.viewStateChanged.emit(self._state)
        self.windowChanged.emit(None)

    def set_crosshair(self, enabled: bool) -> None:
        """Show the crosshair and read-out while the cursor is over an image."""
        self._crosshair = bool(enabled)
        if not enabled:
            for pane in self.panes.values():
                pane.vline.hide()
                pane.hline.hide()

    def effective_window(self) -> Window:
        """The window in use, or the one a drag starts from in pipeline mode."""
        if self._state.window is not None:
            return self._state.window
        return self._presets[0] if self._presets else Window(0.5, 1.0, "Display")

    def pane_levels(self) -> dict[str, tuple[float, float] | None]:
        """The levels each pane's grey image is drawn with (for tests and reports)."""
        out = {}
        for name, pane in self.panes.items():
            levels = pane.image.getLevels()
            out[name] = None if levels is None else (float(levels[0]), float(levels[1]))
        return out

    def displayed_original(self) -> np.ndarray | None:
        """The original as on screen, as uint8 RGB (window, inversion, orientation),
        computed with the rules the panes draw with (:mod:`squid_core.display.screen_view`)."""
        if self._pixels is None:
            return None
        return grey_rgb(self._pixels, self._values, self._mapping, self._state)

    def displayed_overlay(self) -> np.ndarray | None:
        """The heatmap pane as on screen (grey underlay plus overlay) as uint8 RGB."""
        grey = self.displayed_original()
        if grey is None or self._result is None:
            return grey
        return overlay_rgb_on_screen(grey, self._result.heatmap, self._scale_max,
                                     self._overlay, self._state)

    # -- measurement -----------------------------------------------------------------

    def set_measuring(self, enabled: bool) -> None:
        """Show a distance ruler on the original pane (drag its ends), or remove it."""
        view = self.panes["original"].view
        if not enabled:
            if self._ruler is not None:
                view.removeItem(self._ruler)
                view.removeItem(self._ruler_label)
                self._ruler = self._ruler_label = None
            return
        if self._ruler is not None or self._pixels is None:
            return
        rect = view.viewRect()
        c, w = rect.center(), rect.width() / 4
        self._ruler = pg.LineSegmentROI([(c.x() - w, c.y()), (c.x() + w, c.y())],
                                        pen=pg.mkPen((255, 210, 80), width=2))
        self._ruler.setZValue(25)
        self._ruler_label = pg.TextItem("", color=(255, 210, 80), anchor=(0, 1),
                                        fill=pg.mkBrush(0, 0, 0, 160))
        self._ruler_label.setZValue(26)
        view.addItem(self._ruler)
        view.addItem(self._ruler_label)
        self._ruler.sigRegionChanged.connect(self._update_ruler)
        self._update_ruler()

    def measurement(self) -> str:
        """The ruler's label ("" when there is no ruler)."""
        return "" if self._ruler_label is None else self._ruler_label.textItem.toPlainText()

    def _update_ruler(self) -> None:
        if self._ruler is None:
            return
        # Handle positions are in the ROI's frame; its parent is the view's data frame.
        p0, p1 = (self._ruler.mapToParent(h.pos()) for h in self._ruler.getHandles()[:2])
        dx, dy = p1.x() - p0.x(), p1.y() - p0.y()
        meta = getattr(self._image, "meta", None)
        mm = measured_length(dx, dy, getattr(meta, "pixel_spacing_mm", None),
                             self._state.rotation)
        px = float(np.hypot(dx, dy))
        if mm is None:
            text = f"{px:.1f} px (no pixel spacing in the file)"
        else:
            source = getattr(meta, "spacing_source", None) or "file"
            note = (": at the detector, not corrected for magnification"
                    if source == "ImagerPixelSpacing" else "")
            text = f"{mm:.1f} mm ({source}{note})"
        self._ruler_label.setText(text)
        self._ruler_label.setPos(p1)

    # -- rendering -------------------------------------------------------------------

    def _set_state(self, state: ViewState, refit: bool = False, data: bool = True) -> None:
        self._state = state
        if data:
            self._render_all()
        else:
            self._render_levels()
        if refit:
            self.fit()
            if self._ruler is not None:  # the image turned under it: start a new ruler
                self.set_measuring(False)
                self.set_measuring(True)
        self.viewStateChanged.emit(self._state)

    def _grey_mode(self) -> tuple[tuple[float, float], np.ndarray]:
        """(levels, LUT) for the grey images under the current state."""
        return grey_mode(self._state, self._mapping)

    def _render_all(self) -> None:
        if self._pixels is None:
            return
        levels, lut = self._grey_mode()
        source = self._pixels if self._state.window is None else self._values
        shown = orient(source, self._state)
        rect = QRectF(0, 0, shown.shape[1], shown.shape[0])
        for name in ("original", "heatmap"):
            item = self.panes[name].image
            item.setImage(shown, autoLevels=False, levels=levels, lut=lut)
            item.setRect(rect)
        self._values_mode = self._state.window is not None
        self._render_results()

    def _render_levels(self) -> None:
        """Window or inversion changed: new levels and LUT; new data only on a mode switch."""
        if self._pixels is None:
            return
        if self._values_mode != (self._state.window is not None):
            self._render_all()
            return
        levels, lut = self._grey_mode()
        for name in ("original", "heatmap"):
            item = self.panes[name].image
            item.setLookupTable(lut, update=False)
            item.setLevels(levels)
        self._render_recon(levels, lut)

    def _render_results(self) -> None:
        levels, lut = self._grey_mode()
        self._render_recon(levels, lut)
        self._render_overlay()
        has = self._result is not None
        for name in ("reconstruction", "heatmap"):
            self.panes[name].message.setText("" if has else self._no_result_text)

    def _render_recon(self, levels: tuple[float, float], lut: np.ndarray) -> None:
        item = self.panes["reconstruction"].image
        if self._result is None or self._pixels is None:
            item.clear()
            return
        recon = np.asarray(self._result.reconstruction, dtype=np.float32)
        step = _stride(recon.shape)
        recon = recon[::step, ::step]
        if self._state.window is not None and self._mapping is not None:
            recon = self._mapping.to_values(recon)
        shown = orient(recon, self._state)
        item.setImage(shown, autoLevels=False, levels=levels, lut=lut)
        rows, cols = oriented_shape(self._pixels.shape, self._state)
        item.setRect(QRectF(0, 0, cols, rows))

    def _render_overlay(self) -> None:
        item = self.panes["heatmap"].overlay
        if item is None:
            return
        if self._result is None or self._pixels is None:
            item.clear()
            return
        heat = np.asarray(self._result.heatmap)
        step = _stride(heat.shape)
        look = self._overlay
        rgba = heatmap_rgba(heat[::step, ::step], look.lut, self._scale_max, look.threshold,
                            look.opacity)
        shown = orient(rgba, self._state)
        item.setImage(shown, autoLevels=False, levels=(0, 255))
        rows, cols = oriented_shape(self._pixels.shape, self._state)
        item.setRect(QRectF(0, 0, cols, rows))
        item.setVisible(look.visible)

    # -- interaction -----------------------------------------------------------------

    def _on_window_drag(self, dx: float, dy: float) -> None:
        if self._pixels is None:
            return
        start = self.effective_window()
        scale = self._drag_scale if self._state.window is not None or self._presets else 1 / 400
        self.set_window(start.dragged(dx * scale, dy * scale))

    def set_magnifier(self, enabled: bool) -> None:
        """Turn the loupe that follows the cursor on or off."""
        self.magnifier.enabled = bool(enabled)
        if not enabled:
            self.magnifier.hide()

    def magnifier_crop(self, x: float, y: float) -> np.ndarray:
        """The original as drawn, around displayed position (x, y): (h, w, 3) uint8."""
        data = self.panes["original"].image.image
        if data is None:
            return np.zeros((0, 0, 3), np.uint8)
        half = Magnifier.crop_half()
        r, c = int(y), int(x)
        crop = data[max(r - half, 0):r + half, max(c - half, 0):c + half]
        levels, lut = self._grey_mode()
        lo, hi = levels
        t = np.clip((np.asarray(crop, dtype=np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
        return lut[np.round(t * 255).astype(np.intp)]

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._pixels is None:
            return
        for pane in self.panes.values():
            if pane.view.sceneBoundingRect().contains(scene_pos):
                point = pane.view.mapSceneToView(scene_pos)
                self._show_cursor(point.x(), point.y())
                if self.magnifier.enabled:
                    at = self.graphics.mapTo(self, self.graphics.mapFromScene(scene_pos))
                    self.magnifier.show_crop(self.magnifier_crop(point.x(), point.y()), at)
                return
        self._hide_cursor()
        self.magnifier.hide()

    def _hide_cursor(self) -> None:
        for pane in self.panes.values():
            pane.vline.hide()
            pane.hline.hide()
        self.readout.setText(" ")
        self.readoutChanged.emit("")

    def _show_cursor(self, x: float, y: float) -> None:
        text = self.readout_at(x, y)
        if not text:
            self._hide_cursor()
            return
        for pane in self.panes.values():
            pane.vline.setPos(x)
            pane.hline.setPos(y)
            pane.vline.setVisible(self._crosshair)
            pane.hline.setVisible(self._crosshair)
        self.readout.setText(text)
        self.readoutChanged.emit(text)

    def readout_at(self, x: float, y: float) -> str:
        """The read-out for displayed position (x = column, y = row), "" outside the image.

        Gives the source pixel, its stored value (``ImageData.values``), its position in
        mm when the file states a pixel spacing (with the source of that spacing), and
        the heatmap value when there is a result.
        """
        if self._pixels is None:
            return ""
        rows, cols = oriented_shape(self._pixels.shape, self._state)
        if not (0 <= x < cols and 0 <= y < rows):
            return ""
        r, c = to_source(int(y), int(x), self._pixels.shape, self._state)
        parts = [f"x {c}  y {r}", f"value {self._values[r, c]:.6g}"]
        meta = getattr(self._image, "meta", None)
        spacing = getattr(meta, "pixel_spacing_mm", None)
        if spacing:
            source = getattr(meta, "spacing_source", None) or "file"
            note = " at detector" if source == "ImagerPixelSpacing" else ""
            parts.append(f"{c * spacing[1]:.1f}, {r * spacing[0]:.1f} mm ({source}{note})")
        else:
            parts.append("no pixel spacing: mm unknown")
        if self._result is not None:
            hm = np.asarray(self._result.heatmap)
            if hm.shape[:2] == self._pixels.shape[:2]:
                units = getattr(self._result, "heatmap_units", "") or ""
                parts.append(f"heatmap {float(hm[r, c]):.2f} {units}".rstrip())
        if self._state.window is not None:
            w = self._state.window
            parts.append(f"W {w.width:.5g} L {w.center:.5g}")
        return "   |   ".join(parts)
