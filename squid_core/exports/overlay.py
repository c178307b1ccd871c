"""The heatmap over the original as an RGB image, without Qt: what a Secondary Capture shows.

:func:`heatmap_rgba` colours a heatmap on the model's fixed scale (the viewer's panes use
it for every result); :func:`overlay_rgb` blends it over the grey original, which is all
the headless node needs to render a Secondary Capture without a screen. The default
colormap is inferno, taken from OpenCV so that no GUI library is needed.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Defaults of the overlay, the same as the viewer's (heatmap values below 2 sigma hidden).
DEFAULT_OPACITY = 0.55
DEFAULT_THRESHOLD = 2.0


def inferno_lut(points: int = 256) -> np.ndarray:
    """(points, 3) uint8 RGB lookup table of the inferno colormap."""
    ramp = np.round(np.linspace(0, 255, points)).astype(np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO).reshape(-1, 3)
    return np.ascontiguousarray(bgr[:, ::-1])


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


def overlay_rgb(pixels: np.ndarray, heatmap: np.ndarray, scale_max: float, *,
                lut: np.ndarray | None = None, threshold: float = DEFAULT_THRESHOLD,
                opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The display-space original (H, W) in [0, 1] with the heatmap over it: (H, W, 3) uint8."""
    grey = np.round(np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0) * 255.0)
    grey = np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)
    rgba = heatmap_rgba(heatmap, inferno_lut() if lut is None else lut, scale_max,
                        threshold, opacity)
    if rgba.shape[:2] != grey.shape[:2]:
        raise ValueError(f"heatmap {rgba.shape[:2]} and image {grey.shape[:2]} differ in size")
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return (grey * (1.0 - alpha) + rgba[..., :3] * alpha).astype(np.uint8)
