"""After the last epoch: calibrate, choose operating points, fill the model metadata.

Calibration (mu/sigma of the logit, per-location residual statistics) runs over the
training normals without augmentation, in eval mode and fp32, exactly as the scorer
will see images. Operating points are then chosen on the validation split's scores
(the product score, 0-100), so ``squid eval`` on another set reports honest rates.
Without a validation split the ``balanced`` point falls back to the calibration
normals (recorded in its rule).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from squid_core.scoring.calibration import (
    Calibration,
    ModelOutputs,
    calibrate,
    run_model,
    scores_from_logits,
)
from squid_core.scoring.operating_point import default_operating_points
from squid_core.training.callbacks import TrainingCallbacks
from squid_core.training.config import TrainConfig

__all__ = ["validation_logits", "calibration_batches", "calibrate_model", "finalize_model",
           "attach_calibration"]


def validation_logits(
    model, val, cfg: TrainConfig, device, keep_images: int = 0, bf16: bool | None = None
) -> ModelOutputs:
    """Raw logits of the validation set (and a few samples), eval mode."""
    batches = (x for x, _ in val.iter_batches(cfg.batch_size))
    return run_model(
        model, batches, device, keep_images=keep_images, bf16=cfg.bf16 if bf16 is None else bf16
    )


def calibration_batches(data, cfg: TrainConfig) -> Iterator[torch.Tensor]:
    """Normal images for calibration: up to ``calibration_max_images``, no augmentation.

    Cached sets use evenly spaced images (deterministic); on-the-fly DigitAnatomy
    draws a fixed set of grids from its own seed, leaving the training stream as is.
    """
    n_max = cfg.calibration_max_images
    source = data.calibration if data.calibration is not None else data.train
    if source is not None:
        idx = np.unique(np.linspace(0, len(source) - 1, min(n_max, len(source))).round()).astype(int)
        for i in range(0, len(idx), cfg.batch_size):
            yield source.batch(idx[i : i + cfg.batch_size])
        return
    from squid_core.training.digit_anatomy import NormalGridStream

    stream = NormalGridStream(data.stream.source, seed=cfg.seed + 7919)
    n = min(n_max, 512)
    for i in range(0, n, cfg.batch_size):
        yield torch.from_numpy(stream.batch(min(cfg.batch_size, n - i)))


def attach_calibration(model, cal: Calibration) -> None:
    """Store mu/sigma, the residual statistics and the out-of-distribution guard on the
    model (metadata + tensors). A guard needs ``ood_guard.MIN_IMAGES`` normals: with
    fewer, a guard the model already has is kept (safer than none), else it has none
    (and its results say the check was not made)."""
    model.metadata["calibration"] = cal.calibration_metadata()
    model.metadata["heatmap"] = cal.heatmap_metadata()
    model.heatmap_mean = cal.heatmap_mean
    model.heatmap_std = cal.heatmap_std
    if cal.ood_guard is not None:
        model.ood_guard = cal.ood_guard


def clean_json(v: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, tuples lists."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): clean_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean_json(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return clean_json(v.item())
    return v


def calibrate_model(
    model,
    data,
    cfg: TrainConfig,
    device,
    callbacks: TrainingCallbacks | None = None,
) -> dict[str, Any]:
    """Calibrate ``model`` on ``data``'s normals and choose its operating points on the
    validation split (metadata updated in place); returns the validation metrics."""
    from squid_core.metrics import auc, metrics_at_threshold, roc_points

    cb = callbacks or TrainingCallbacks()
    cb.on_status("calibrating on normal training images")
    cal = calibrate(model, calibration_batches(data, cfg), device)
    attach_calibration(model, cal)

    metrics: dict[str, Any] = {}
    if data.val is not None and len(data.val):
        cb.on_status("choosing operating points on the validation split")
        out = validation_logits(model, data.val, cfg, device, bf16=False)
        labels = data.val.labels.numpy()
        scores = scores_from_logits(out.logits, cal.mu, cal.sigma)
        points, default = default_operating_points(scores, labels, source="validation split")
        val_metrics: dict[str, Any] = {
            "n_normal": int((labels == 0).sum()),
            "n_abnormal": int((labels == 1).sum()),
            "auc": auc(-out.logits, labels),  # the score's order, without saturation ties
        }
        if val_metrics["n_normal"] and val_metrics["n_abnormal"]:
            val_metrics["roc"] = roc_points(scores, labels)
            thr = next(p["threshold"] for p in points if p["name"] == default)
            val_metrics["at_operating_point"] = metrics_at_threshold(scores, labels, thr).as_dict()
        metrics["validation"] = val_metrics
    else:
        normals = run_model(model, calibration_batches(data, cfg), device).logits
        scores = scores_from_logits(normals, cal.mu, cal.sigma)
        points, default = default_operating_points(
            scores, np.zeros(len(scores), int), source="training normals (no validation split)"
        )
    model.metadata["operating_points"] = clean_json(points)
    model.metadata["default_operating_point"] = default
    model.metadata["metrics"] = clean_json(metrics) or None
    return metrics


def finalize_model(
    model,
    data,
    cfg: TrainConfig,
    device,
    run_info: dict[str, Any],
    callbacks: TrainingCallbacks | None = None,
):
    """Calibrate ``model`` (already holding the chosen weights) and fill its metadata.

    The out-of-distribution guard is refitted on the training normals; a guard from
    before training (fine-tuning) is dropped, since it describes the old weights."""
    model.ood_guard = None
    calibrate_model(model, data, cfg, device, callbacks)
    model.metadata["training"] = clean_json({
        "config": cfg.to_dict(),
        "data": data.summary,
        "rejected_files": len(data.rejected),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **run_info,
    })
    return model
