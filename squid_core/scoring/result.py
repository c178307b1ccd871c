"""`AnalysisResult`: what scoring one image produces, and all a viewer widget shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AnalysisResult:
    """The outcome of scoring one image (see docs/architecture.md, "Contract: scoring").

    score: 0-100, 100 = most anomalous, ``100 * (1 - sigmoid((raw - mu) / sigma))``.
    raw_logit: the discriminator's logit on the reconstruction (high = looks normal).
    flagged: score >= the default operating point's threshold; None without one.
    operating_point: the operating point used (dict from the model file) or None.
    reconstruction: (H, W) float32 in [0, 1] at the input's size.
    heatmap: (H, W) float32 at the input's size, in ``heatmap_units``.
    heatmap_scale_max: top of the heatmap's colour scale.
    timings: seconds for "preprocess", "inference" and "total".
    calibrated: False when the model file has no calibration (mu = 0, sigma = 1 used);
        an addition to the contract so the viewer can say the score is uncalibrated.
    notes: what the user should know about how this result was made, e.g. that the GPU
        ran out of memory and the image was scored on the CPU (``device`` then says cpu).
    """

    score: float
    raw_logit: float
    flagged: bool | None
    operating_point: dict[str, Any] | None
    reconstruction: np.ndarray
    heatmap: np.ndarray
    heatmap_units: str
    heatmap_scale_max: float
    model_name: str
    model_version: str
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    calibrated: bool = True
    notes: list[str] = field(default_factory=list)
