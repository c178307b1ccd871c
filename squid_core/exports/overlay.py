"""The heatmap over the original as an RGB image, without Qt: what a Secondary Capture shows.

:func:`overlay_rgb` blends the heatmap, coloured as the viewer colours it
(:mod:`squid_core.display.heatmap_overlay`, with the viewer's default colormap, opacity
and threshold), over the grey original: all the headless node needs to render a
Secondary Capture without a screen.
"""

from __future__ import annotations

import numpy as np

from squid_core.display.heatmap_overlay import OverlaySettings, blend, heatmap_rgba


def overlay_rgb(pixels: np.ndarray, heatmap: np.ndarray, scale_max: float,
                settings: OverlaySettings | None = None) -> np.ndarray:
    """The display-space original (H, W) in [0, 1] with the heatmap over it: (H, W, 3) uint8.

    ``settings`` (colormap, opacity, threshold) default to the viewer's defaults; a
    hidden overlay (``visible`` False) leaves the grey original.
    """
    s = settings or OverlaySettings()
    grey = np.round(np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0) * 255.0)
    grey = np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)
    if not s.visible:
        return grey
    return blend(grey, heatmap_rgba(heatmap, s.lut(), scale_max, s.threshold, s.opacity))
