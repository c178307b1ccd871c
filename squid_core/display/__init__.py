"""How an image and its heatmap are shown, without Qt: the rules every display follows.

The viewer's panes draw with these; the headless node renders its Secondary Capture with
the same colours (:mod:`squid_core.exports.overlay`). No Qt here, so each rule (which way
a rotation turns, which source pixel sits under the cursor, what a window preset means,
how the heatmap is coloured) is a numpy function a test can check without a window.

* :mod:`~squid_core.display.orientation`: ``ViewState``, rotation and flips, cursor mapping
* :mod:`~squid_core.display.windowing`: ``Window``, presets, ``ValueMapping``, grey LUTs
* :mod:`~squid_core.display.prepared_frame`: one frame with what the display derives from it
* :mod:`~squid_core.display.colormaps`: the heatmap colormaps (one table per name)
* :mod:`~squid_core.display.heatmap_overlay`: ``OverlaySettings``, heatmap colours, the blend
"""

from __future__ import annotations

from squid_core.display.colormaps import COLORMAPS, DEFAULT_COLORMAP, colormap_lut
from squid_core.display.heatmap_overlay import (
    DEFAULT_OPACITY,
    DEFAULT_THRESHOLD,
    OverlaySettings,
    blend,
    heatmap_rgba,
)
from squid_core.display.orientation import (
    ViewState,
    measured_length,
    orient,
    oriented_shape,
    to_source,
)
from squid_core.display.prepared_frame import PreparedFrame, frame_of, prepare_frame
from squid_core.display.windowing import (
    ValueMapping,
    Window,
    auto_window,
    bone_window,
    drag_scale,
    grey_lut,
    lung_window,
    window_presets,
)

__all__ = [
    "COLORMAPS",
    "DEFAULT_COLORMAP",
    "DEFAULT_OPACITY",
    "DEFAULT_THRESHOLD",
    "OverlaySettings",
    "PreparedFrame",
    "ValueMapping",
    "ViewState",
    "Window",
    "auto_window",
    "blend",
    "bone_window",
    "colormap_lut",
    "drag_scale",
    "frame_of",
    "grey_lut",
    "heatmap_rgba",
    "lung_window",
    "measured_length",
    "orient",
    "oriented_shape",
    "prepare_frame",
    "to_source",
    "window_presets",
]
