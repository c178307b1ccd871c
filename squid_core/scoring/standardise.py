"""Intensity standardisation by histogram matching: a candidate input standardisation.

Exposure and processing curves (gamma, contrast, window) change an image's intensities
by a monotone map. Matching every image's histogram to one reference histogram (the
mean quantile function of the training normals) undoes any such map: two images that
differ only by a strictly increasing intensity transform come out the same, up to
rounding. It cannot undo framing (a tighter crop changes which tissue is in the
histogram), and it also removes global intensity changes that disease causes. Whether
it helps is measured with the yardstick (``bench/robustness.py --standardise``, see
docs/robustness.md).

A model file may carry the reference (metadata ``intensity_standardisation``, written by
``squid calibrate --standardise``); the scorer, calibration, validation and training
then match every image, at the model's input size, before the networks see it. Model
files without it (the bundled 1.1) score exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["reference_quantiles", "match_histogram", "match_batch", "reference_of",
           "standardisation_metadata", "attach_reference", "LEVELS", "METADATA_KEY"]

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


#: Model-file metadata key of the reference (absent or None: no standardisation).
METADATA_KEY = "intensity_standardisation"
METHOD = "histogram_matching"


def standardisation_metadata(reference: np.ndarray, n_images: int) -> dict:
    """The model-file entry for a reference quantile function."""
    return {"method": METHOD, "quantiles": [float(v) for v in np.asarray(reference)],
            "n_images": int(n_images)}


def attach_reference(model, images) -> None:
    """Store on ``model`` the mean quantile function of ``images`` ((N, 1, H, W) tensor
    or (N, H, W) array of normals at the model's size) as its intensity reference."""
    a = np.asarray(images.float().numpy() if hasattr(images, "float") else images)
    a = a.reshape(a.shape[0], a.shape[-2], a.shape[-1])
    model.metadata[METADATA_KEY] = standardisation_metadata(reference_quantiles(a), len(a))


def reference_of(metadata: dict | None) -> np.ndarray | None:
    """The reference quantiles a model file asks its images to be matched to, or None.

    Raises ValueError with a clear message for an entry this version cannot apply (an
    unknown method, or quantiles that are not an increasing list in [0, 1])."""
    entry = (metadata or {}).get(METADATA_KEY)
    if entry is None:
        return None
    if not isinstance(entry, dict) or entry.get("method") != METHOD:
        raise ValueError(f"unknown intensity standardisation {entry!r:.80} (this version "
                         f"knows {METHOD!r})")
    try:
        q = np.asarray(entry["quantiles"], dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        raise ValueError("intensity standardisation without a list of quantiles") from None
    if q.ndim != 1 or q.size < 2 or np.any(np.diff(q) < 0) or q[0] < 0 or q[-1] > 1:
        raise ValueError("intensity standardisation quantiles must increase within [0, 1]")
    return q


def match_batch(x, reference: np.ndarray):
    """:func:`match_histogram` on every image of a (B, 1, H, W) torch tensor (same
    dtype and device back)."""
    import torch

    imgs = x.detach().float().cpu().numpy()
    out = np.stack([match_histogram(im[0], reference)[None] for im in imgs])
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
