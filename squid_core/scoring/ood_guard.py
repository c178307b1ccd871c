"""Out-of-distribution guard: is an image like the normals the model was fitted on?

SQUID's score only means something for images like its training normals: an adult
chest, a digit or an MR slice can be reconstructed badly for reasons that have
nothing to do with disease. The guard measures how far an image lies from the
fitting normals in a small descriptor space and says "outside the model's training
data" beyond a threshold learned from those normals.

Descriptor (536 numbers, computed in the scorer's own forward pass, so it costs
almost nothing): the model input pooled to 16 x 16 (layout and exposure), a
16-bin intensity histogram, the log of the mean and 90th percentile of the absolute
Laplacian at four scales (sharpness: how the image was acquired and resampled) and
the spatial standard deviation of each encoder bottleneck channel (texture as the
model sees it). Distance: Mahalanobis distance of the standardised descriptor with
a Ledoit-Wolf shrunk covariance (scikit-learn), robust with a few hundred images.
Threshold: a high quantile (default 0.97) of *out-of-fold* distances of the fitting
normals (5-fold: each image's distance to a fit that did not see it), so the rate of
normals called outside is estimated honestly without a separate held-out set.
Measured in ``bench/ood_guard.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FEATURES", "MIN_IMAGES", "OodGuard", "guard_features", "fit_guard"]

#: Name of the descriptor, stored in the model file; a guard with another name is ignored.
FEATURES = "input16+histogram16+laplacian8+bottleneck-std v1"
#: Fewest normal images a guard is fitted on (fewer: no guard, and results say so).
MIN_IMAGES = 50
DEFAULT_QUANTILE = 0.97
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


@torch.no_grad()
def guard_features(x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """Descriptor (B, D) float32 from the model input (B, 1, S, S) in [0, 1] and the
    generator's bottleneck ``embedding`` (B, C, h, w)."""
    x = x.float()
    b = x.shape[0]
    thumb = F.adaptive_avg_pool2d(x, 16).flatten(1)
    hist = torch.stack([torch.histc(xi, 16, 0.0, 1.0) for xi in x]) / x[0].numel()
    sharp, level = [], x
    kernel = _LAPLACIAN.to(x.device)[None, None]
    for _ in range(4):
        lap = F.conv2d(level, kernel).abs().flatten(1)
        sharp += [lap.mean(1), lap.quantile(0.9, dim=1)]
        level = F.avg_pool2d(level, 2)
    sharp_t = torch.log(torch.stack(sharp, 1) + 1e-4)
    emb_std = embedding.float().flatten(2).std(2)
    return torch.cat([thumb, hist, sharp_t, emb_std], 1).reshape(b, -1).contiguous()


@dataclass
class OodGuard:
    """A fitted guard: ``distance(f) = sqrt(z^T P z)``, ``z = (f - mean) / scale``;
    ``outside`` when the distance exceeds ``threshold``."""

    mean: np.ndarray       # (D,)
    scale: np.ndarray      # (D,)
    precision: np.ndarray  # (D, D), Ledoit-Wolf precision of the standardised descriptor
    threshold: float
    quantile: float
    n_images: int
    features: str = FEATURES
    source: str = "training normals"

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distances (N,) of descriptors (N, D)."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected descriptors of {self.mean.shape[0]} values, "
                             f"got shape {f.shape}")
        z = (f - self.mean) / self.scale
        d2 = np.einsum("ij,jk,ik->i", z, self.precision, z)
        return np.sqrt(np.maximum(d2, 0.0))

    def metadata(self) -> dict[str, Any]:
        """The ``"ood"`` block of the model file's JSON metadata."""
        return {
            "method": "Mahalanobis distance, Ledoit-Wolf covariance",
            "features": self.features, "dims": int(self.mean.shape[0]),
            "threshold": float(self.threshold), "quantile": float(self.quantile),
            "threshold_rule": f"{self.quantile:g} quantile of 5-fold out-of-fold "
                              f"distances of the fitting normals",
            "n_images": int(self.n_images), "source": self.source,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """The guard's arrays as model-file tensors (``ood.*``)."""
        return {
            "ood.mean": torch.from_numpy(self.mean.astype(np.float32)),
            "ood.scale": torch.from_numpy(self.scale.astype(np.float32)),
            "ood.precision": torch.from_numpy(self.precision.astype(np.float32)),
        }

    @classmethod
    def from_file(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> OodGuard:
        """Rebuild from the ``"ood"`` metadata block and the ``ood.*`` tensors; raises
        ValueError when they do not fit together."""
        mean = tensors["ood.mean"].double().numpy()
        scale = tensors["ood.scale"].double().numpy()
        precision = tensors["ood.precision"].double().numpy()
        d = mean.shape[0]
        if mean.ndim != 1 or scale.shape != (d,) or precision.shape != (d, d):
            raise ValueError("ood.mean, ood.scale and ood.precision do not fit together")
        if not np.all(scale > 0):
            raise ValueError("ood.scale must be positive")
        threshold = float(meta["threshold"])
        if not threshold > 0:
            raise ValueError("the ood threshold must be positive")
        return cls(mean, scale, precision, threshold, float(meta.get("quantile", 0.0)),
                   int(meta.get("n_images", 0)), str(meta.get("features", "")),
                   str(meta.get("source", "")))


def _fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    mean = features.mean(0)
    scale = features.std(0) + 1e-6
    lw = LedoitWolf(assume_centered=True).fit((features - mean) / scale)
    return mean, scale, lw.precision_


def fit_guard(features: np.ndarray, quantile: float = DEFAULT_QUANTILE, folds: int = 5,
              seed: int = 0, source: str = "training normals") -> OodGuard:
    """Fit a guard on the descriptors (N, D) of normal images (N >= ``MIN_IMAGES``).

    The threshold is the ``quantile`` of out-of-fold distances: each image is measured
    against a fit on the other folds, as a new normal image would be."""
    from sklearn.model_selection import KFold

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < MIN_IMAGES:
        raise ValueError(f"the out-of-distribution guard needs at least {MIN_IMAGES} normal "
                         f"images, got {len(f)}")
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    oof = np.zeros(len(f))
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(f):
        mean, scale, precision = _fit(f[train])
        part = OodGuard(mean, scale, precision, 1.0, quantile, len(train))
        oof[held] = part.distance(f[held])
    mean, scale, precision = _fit(f)
    return OodGuard(mean, scale, precision, float(np.quantile(oof, quantile)), quantile,
                    len(f), FEATURES, source)
