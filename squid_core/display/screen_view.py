"""What the panes show, as values: the original and the heatmap over it as on screen.

Computed from the session's image (the frame in display space and its stored values),
the view state in use (window/level, rotation, flips, inversion: a ``ViewState``) and
the overlay's look, never read back out of the panes or pyqtgraph. The panes draw with
the same rules (:func:`grey_mode`); the exports (report, Secondary Capture, SR) take a
:class:`ScreenView`. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from squid_core.display.heatmap_overlay import blend, heatmap_rgba
from squid_core.display.orientation import ViewState, orient
from squid_core.display.prepared_frame import prepare_frame
from squid_core.display.windowing import ValueMapping, grey_lut


@dataclass(frozen=True)
class OverlayLook:
    """How the heatmap is drawn: colours (LUT (N, 3) uint8), opacity, hide-below, shown."""

    lut: np.ndarray
    opacity: float = 0.55
    threshold: float = 2.0
    visible: bool = True


def grey_mode(state: ViewState, mapping: ValueMapping | None) -> tuple[tuple[float, float],
                                                                      np.ndarray]:
    """(levels, LUT) of the grey images under ``state``: display space [0, 1] without a
    window, stored values with one (inverted where values fall as brightness rises)."""
    window = state.window
    if window is None:
        return (0.0, 1.0), grey_lut(state.invert)
    flip = not (mapping.increasing if mapping else True)
    return window.levels, grey_lut(state.invert ^ flip)


def grey_rgb(pixels: np.ndarray, values: np.ndarray | None, mapping: ValueMapping | None,
             state: ViewState) -> np.ndarray:
    """A frame as on screen: uint8 RGB (H, W, 3), window, inversion and orientation applied."""
    source = pixels if state.window is None or values is None else values
    (lo, hi), lut = grey_mode(state, mapping)
    shown = orient(np.asarray(source, dtype=np.float32), state)
    t = np.clip((shown - lo) / max(hi - lo, 1e-12), 0, 1)
    return lut[np.round(t * 255).astype(np.intp)]


def overlay_rgb_on_screen(grey: np.ndarray, heatmap: Any, scale_max: float,
                          look: OverlayLook, state: ViewState) -> np.ndarray:
    """``grey`` (as on screen) with the heatmap blended over it as the pane shows it."""
    if heatmap is None or not look.visible:
        return grey
    rgba = orient(heatmap_rgba(np.asarray(heatmap), look.lut, scale_max, look.threshold,
                               look.opacity), state)
    if rgba.shape[:2] != grey.shape[:2]:
        return grey
    return blend(grey, rgba)


@dataclass(frozen=True)
class ScreenView:
    """The image on screen as values: what the exports read."""

    image: Any          # ImageData
    frame: int
    result: Any         # AnalysisResult (at the operating point in use) or None
    state: ViewState
    overlay: OverlayLook

    def original(self) -> np.ndarray:
        """The original as on screen (uint8 RGB)."""
        prepared = prepare_frame(self.image, self.frame)
        return grey_rgb(prepared.pixels, prepared.values, prepared.mapping, self.state)

    def overlay_image(self) -> np.ndarray:
        """The heatmap pane as on screen (grey underlay plus overlay, uint8 RGB)."""
        result = self.result
        scale = float(getattr(result, "heatmap_scale_max", 0) or 1.0)
        return overlay_rgb_on_screen(self.original(), getattr(result, "heatmap", None), scale,
                                     self.overlay, self.state)
