"""The heatmap drawn over the image: its settings, its colours on the model's fixed scale, the blend.

One definition for the viewer's heatmap pane, its report and exports, and the node's
Secondary Capture. The colour scale is fixed per model (0 .. ``heatmap_scale_max``); it is
never stretched to an image's own range, so one colour means one thing on every study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from squid_core.display.colormaps import DEFAULT_COLORMAP, colormap_lut

#: Defaults of the overlay (heatmap values below 2 sigma hidden).
DEFAULT_OPACITY = 0.55
DEFAULT_THRESHOLD = 2.0


@dataclass
class OverlaySettings:
    """How the heatmap is drawn over the original (the viewer remembers these)."""

    colormap: str = DEFAULT_COLORMAP
    opacity: float = DEFAULT_OPACITY
    threshold: float = DEFAULT_THRESHOLD
    visible: bool = True

    def lut(self) -> np.ndarray:
        """The (256, 3) uint8 lookup table of :attr:`colormap`."""
        return colormap_lut(self.colormap)


def heatmap_rgba(heatmap: np.ndarray, lut: np.ndarray, scale_max: float, threshold: float,
                 opacity: float) -> np.ndarray:
    """Colour a heatmap on a fixed scale 0..``scale_max``; hide values below ``threshold``.

    Returns uint8 (H, W, 4). ``lut`` is (N, 3) uint8 (resampled to 256 entries);
    ``opacity`` in [0, 1] becomes the alpha of every shown pixel; NaN pixels are
    transparent. One gather through a 256 x 4 table keeps this fast enough to run on
    the GUI thread for every result.
    """
    hm = np.asarray(heatmap, dtype=np.float32)
    scale = float(scale_max) if scale_max and scale_max > 0 else 1.0
    table = np.empty((256, 4), dtype=np.uint8)
    pick = np.round(np.linspace(0, len(lut) - 1, 256)).astype(np.intp)
    table[:, :3] = np.asarray(lut)[pick, :3]
    table[:, 3] = np.uint8(round(255 * min(max(opacity, 0.0), 1.0)))
    t = hm * np.float32(255.0 / scale)
    np.clip(t, 0.0, 255.0, out=t)
    t += np.float32(0.5)
    if np.isnan(t).any():
        np.nan_to_num(t, copy=False, nan=0.0)
    rgba = table[t.astype(np.uint8)]
    # NaN compares False, so it is hidden along with values below the threshold.
    rgba[..., 3][~(hm >= threshold)] = 0
    return rgba


def blend(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """``rgba`` (H, W, 4) uint8 over ``rgb`` (H, W, 3) uint8, by its alpha: (H, W, 3) uint8."""
    if rgba.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"heatmap {rgba.shape[:2]} and image {rgb.shape[:2]} differ in size")
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgb * (1.0 - alpha) + rgba[..., :3] * alpha).astype(np.uint8)
