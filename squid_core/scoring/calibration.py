"""Calibration of a trained model on normal images, stored with its weights.

Two things are measured over the normal training images, in eval mode:

* ``mu``, ``sigma``: mean and standard deviation of the discriminator logit
  ``raw = D(G(x)["recon"])``. The score is ``100 * (1 - sigmoid((raw - mu) / sigma))``
  (see ``docs/architecture.md``). The reference code recomputes them from the
  training set at each evaluation; a product must store them.
* per-location residual statistics: mean and std over images of ``|x - recon|`` at
  the model's input resolution. Chest radiographs are roughly aligned, so a
  residual is judged against what is usual *at that location*; the heatmap is the
  residual in "sigma above normal" units, and ``scale_max`` (a high percentile of
  those units over the normal images themselves) fixes its colour scale per model.

The out-of-distribution guard (``ood_guard.py``) is fitted on the same images.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "ModelOutputs",
    "Calibration",
    "run_model",
    "scores_from_logits",
    "logit_calibration",
    "residual_statistics",
    "calibrate",
]

SIGMA_FLOOR = 1e-6
RESIDUAL_STD_FLOOR = 1e-3  # residual units are [0, 1] intensities; avoids dividing by ~0


@dataclass
class ModelOutputs:
    """Per-image raw logits (N,) and, when kept, residuals (N, h, w) float16."""

    logits: np.ndarray
    residuals: np.ndarray | None = None
    inputs: np.ndarray | None = None
    recons: np.ndarray | None = None
    features: np.ndarray | None = None  # (N, D) out-of-distribution guard descriptors


@torch.no_grad()
def run_model(
    model,
    batches: Iterable[torch.Tensor],
    device: torch.device | str = "cpu",
    *,
    keep_residuals: bool = False,
    keep_images: int = 0,
    bf16: bool = False,
    keep_features: bool = False,
) -> ModelOutputs:
    """Raw discriminator logits of ``D(G(x)["recon"])`` for every image, in eval mode,
    with the discriminator evaluated as the scorer evaluates it
    (``model.scoring_discriminator()``: per-image statistics, or the running averages
    of older model files), on images standardised as the model file asks
    (:mod:`squid_core.scoring.standardise`; none for files without it).

    ``batches`` yields (B, 1, h, w) float tensors in [0, 1] at the model's size. With
    ``keep_residuals`` the per-image ``|x - recon|`` maps come back too, and the first
    ``keep_images`` inputs and reconstructions (for sample views); with
    ``keep_features`` the out-of-distribution guard's descriptors. The modules' train
    or eval mode is restored afterwards.
    """
    from squid_core.scoring.ood_guard import guard_features
    from squid_core.scoring.standardise import match_batch, reference_of

    gen = model.generator
    mode = gen.training
    gen.eval()
    disc = model.scoring_discriminator().to(device)
    device = torch.device(device)
    reference = reference_of(model.metadata)
    logits, residuals, inputs, recons, features = [], [], [], [], []
    n_kept = 0
    try:
        for x in batches:
            x = x.to(device=device, dtype=torch.float32)
            if reference is not None:  # the model file's intensity standardisation
                x = match_batch(x, reference)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = gen(x, teacher=False)
                recon = out["recon"]
                raw = disc(recon)
            recon = recon.float()
            if keep_features:
                features.append(guard_features(x, out["embedding"]).cpu().numpy())
            logits.append(raw.float().reshape(-1).cpu().numpy())
            if keep_residuals:
                residuals.append((x - recon).abs()[:, 0].to(torch.float16).cpu().numpy())
            if n_kept < keep_images:
                take = min(keep_images - n_kept, x.shape[0])
                inputs.append(x[:take, 0].cpu().numpy())
                recons.append(recon[:take, 0].clamp(0, 1).cpu().numpy())
                n_kept += take
    finally:
        gen.train(mode)
    cat = (lambda parts: np.concatenate(parts) if parts else None)  # noqa: E731
    return ModelOutputs(
        logits=np.concatenate(logits) if logits else np.zeros(0, np.float32),
        residuals=cat(residuals) if keep_residuals else None,
        inputs=cat(inputs),
        recons=cat(recons),
        features=cat(features) if keep_features else None,
    )


def scores_from_logits(raw: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """The product score, 0-100 (100 = most anomalous): ``100 * (1 - sigmoid((raw - mu) / sigma))``."""
    z = (np.asarray(raw, dtype=np.float64) - mu) / max(sigma, SIGMA_FLOOR)
    return 100.0 / (1.0 + np.exp(np.clip(z, -500, 500)))


def logit_calibration(logits: np.ndarray) -> dict[str, float | int]:
    """``{"mu", "sigma", "n_images"}`` of the logits of normal images (model-file format)."""
    a = np.asarray(logits, dtype=np.float64)
    if a.size == 0:
        raise ValueError("calibration needs at least one normal image")
    return {
        "mu": float(a.mean()),
        "sigma": float(max(a.std(ddof=1) if a.size > 1 else 0.0, SIGMA_FLOOR)),
        "n_images": int(a.size),
    }


def residual_statistics(
    residuals: np.ndarray, percentile: float = 99.9
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Per-location mean and std (h, w) float32 of ``|x - recon|``, and ``scale_max``.

    ``scale_max`` is the ``percentile`` of the normalised residual
    ``(r - mean) / std`` over all locations of the normal images (at least 3): the
    top of the heatmap's colour scale, the same for every study.
    """
    r = np.asarray(residuals, dtype=np.float32)
    mean = r.mean(axis=0)
    std = np.maximum(r.std(axis=0, ddof=1) if r.shape[0] > 1 else np.zeros_like(mean),
                     RESIDUAL_STD_FLOOR)
    z = (r - mean) / std
    scale_max = float(max(3.0, np.percentile(z, percentile)))
    return torch.from_numpy(mean.copy()), torch.from_numpy(std.astype(np.float32)), scale_max


@dataclass
class Calibration:
    """Everything calibration puts into a model file."""

    mu: float
    sigma: float
    n_images: int
    heatmap_mean: torch.Tensor
    heatmap_std: torch.Tensor
    scale_max: float
    ood_guard: Any = None  # OodGuard, or None with fewer than ood_guard.MIN_IMAGES normals

    def calibration_metadata(self) -> dict[str, float | int]:
        return {"mu": self.mu, "sigma": self.sigma, "n_images": self.n_images}

    def heatmap_metadata(self) -> dict:
        return {
            "units": "sigma above normal",
            "scale_max": self.scale_max,
            "shape": list(self.heatmap_mean.shape),
        }


def calibrate(
    model, batches: Iterable[torch.Tensor], device: torch.device | str = "cpu"
) -> Calibration:
    """Measure mu/sigma and the residual statistics over normal images (fp32, eval mode)
    and fit the out-of-distribution guard on the same images (`ood_guard.fit_guard`)."""
    from squid_core.scoring.ood_guard import MIN_IMAGES, fit_guard

    out = run_model(model, batches, device, keep_residuals=True, keep_features=True)
    cal = logit_calibration(out.logits)
    assert out.residuals is not None
    mean, std, scale_max = residual_statistics(out.residuals)
    return Calibration(
        mu=float(cal["mu"]),
        sigma=float(cal["sigma"]),
        n_images=int(cal["n_images"]),
        heatmap_mean=mean,
        heatmap_std=std,
        scale_max=scale_max,
        ood_guard=fit_guard(out.features) if len(out.logits) >= MIN_IMAGES else None,
    )
