"""The residual heatmap: where the reconstruction departs from the input.

SQUID itself defines no heatmap; the residual ``|x - recon|`` is the natural one.
Chest radiographs are roughly aligned, so when the model file carries per-location
residual statistics of normal images (``heatmap.mean`` / ``heatmap.std``), the map is
``(r - mean) / std`` clipped at 0, in "sigma above normal" units; without them it is
the raw residual in intensity units ("residual (0-1)"). Maps are computed at the
model's resolution and resized (bilinear) to the input image's size.
"""

from __future__ import annotations

import cv2
import numpy as np

UNITS_SIGMA = "sigma above normal"
UNITS_RESIDUAL = "residual (0-1)"
STD_FLOOR = 1e-3


def residual(x: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Absolute residual ``|x - recon|`` (float32), same shape as the inputs."""
    return np.abs(np.asarray(x, np.float32) - np.asarray(recon, np.float32))


def normalise_residual(r: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``max(0, (r - mean) / std)`` per location, with std floored at STD_FLOOR."""
    z = (r - mean) / np.maximum(std, STD_FLOOR)
    return np.maximum(z, 0.0).astype(np.float32)


def resize_map(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D float map to ``shape`` = (H, W)."""
    if m.shape == tuple(shape):
        return m.astype(np.float32, copy=False)
    return cv2.resize(m.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def heatmap(
    x: np.ndarray,
    recon: np.ndarray,
    out_shape: tuple[int, int],
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    scale_max: float | None = None,
) -> tuple[np.ndarray, str, float]:
    """(map at ``out_shape``, units, colour-scale maximum) for one image at model size."""
    r = residual(x, recon)
    if mean is not None and std is not None:
        if mean.shape != r.shape:
            mean, std = resize_map(mean, r.shape), resize_map(std, r.shape)
        m = normalise_residual(r, mean, std)
        units, top = UNITS_SIGMA, float(scale_max) if scale_max else 5.0
    else:
        m, units, top = r, UNITS_RESIDUAL, float(scale_max) if scale_max else 1.0
    return resize_map(m, out_shape), units, top
