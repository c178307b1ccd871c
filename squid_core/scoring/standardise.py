"""Intensity standardisation by histogram matching: a candidate input standardisation.

Exposure and processing curves (gamma, contrast, window) change an image's intensities
by a monotone map. Matching every image's histogram to one reference histogram (the
mean quantile function of the training normals) undoes any such map: two images that
differ only by a strictly increasing intensity transform come out the same, up to
rounding. It cannot undo framing (a tighter crop changes which tissue is in the
histogram), and it also removes global intensity changes that disease causes. Whether
it helps is measured with the yardstick (``bench/robustness.py --standardise``, see
docs/robustness.md); it is used nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["reference_quantiles", "match_histogram", "LEVELS"]

#: Points of the quantile function kept for the reference.
LEVELS = 257


def _quantiles(image: np.ndarray, levels: int) -> np.ndarray:
    return np.quantile(np.asarray(image, dtype=np.float64).ravel(), np.linspace(0, 1, levels))


def reference_quantiles(images: Iterable[np.ndarray], levels: int = LEVELS) -> np.ndarray:
    """The mean quantile function of ``images`` ((H, W) floats in [0, 1]), (levels,)."""
    qs = [_quantiles(im, levels) for im in images]
    if not qs:
        raise ValueError("the reference needs at least one image")
    return np.mean(qs, axis=0).astype(np.float32)


def match_histogram(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` with its intensities mapped so that its histogram is the reference's.

    Each distinct value goes to the reference quantile at its mid-rank, so ties stay
    ties and the map depends only on the order of the values.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    ref = np.asarray(reference, dtype=np.float64)
    values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    mid_rank = (np.cumsum(counts) - counts / 2.0) / a.size
    mapped = np.interp(mid_rank, np.linspace(0, 1, ref.size), ref)
    return mapped[inverse].reshape(a.shape).astype(np.float32)
