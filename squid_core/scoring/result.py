"""`AnalysisResult`: what scoring one image produces, and all a viewer widget shows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from squid_core.scoring.operating_point import OperatingPoint

#: The three result statuses, the same words in every surface and export.
SCORED = "scored"
NOT_APPLICABLE = "not-applicable"
OUTSIDE = "outside"
STATUSES = (SCORED, NOT_APPLICABLE, OUTSIDE)
#: The derived notion the worklist sorts with the flagged studies.
NEEDS_REVIEW = "needs review"


class ResultStatus:
    """What every result-like object (`AnalysisResult`, the viewer's score summaries)
    derives from its ``status`` and ``flagged``: one definition for every surface."""

    status: str
    flagged: bool | None

    @property
    def needs_review(self) -> bool:
        """Not applicable or outside: never to be read as "no flag"."""
        return self.status != SCORED

    @property
    def verdict(self) -> str:
        """The one-word outcome every surface shows (see `verdict`)."""
        return verdict(self.status, self.flagged)


@dataclass
class AnalysisResult(ResultStatus):
    """The outcome of scoring one image (see docs/architecture.md, "Contract: scoring").

    score: 0-100, 100 = most anomalous, ``100 * (1 - sigmoid((raw - mu) / sigma))``.
    raw_logit: the discriminator's logit on the reconstruction (high = looks normal).
    flagged: derived: ``operating_point.flag(score)``; None without a point or a score.
    operating_point: the `OperatingPoint` the flag is read at (the model file's default
        when the scorer made the result) or None; `at` gives the result at another.
    reconstruction: (H, W) float32 in [0, 1] at the input's size (None when not scored).
    heatmap: (H, W) float32 at the input's size, in ``heatmap_units`` (None when not scored).
    heatmap_scale_max: top of the heatmap's colour scale.
    timings: seconds for "preprocess", "inference" and "total".
    calibrated: False when the model file has no calibration (mu = 0, sigma = 1 used);
        an addition to the contract so the viewer can say the score is uncalibrated.
    notes: what the user should know about how this result was made, e.g. that the GPU
        ran out of memory and the image was scored on the CPU (``device`` then says cpu).
    status: ``scored`` (the model's answer), ``not-applicable`` (the file is not what the
        model is for: see `squid_core.scoring.applicability`; score None unless the user
        asked to analyse it anyway) or ``outside`` (the image lies outside the model's
        training data per its out-of-distribution guard; the score is shown, uncalibrated).
    status_reason: why the status is not ``scored``, a sentence for the user.
    ood_distance, ood_threshold: the guard's distance and threshold (None without a guard).
    forced: scored although not applicable, because the user asked for it.
    frame: the frame of a multi-frame image that was scored, 0-based (0 for a single
        frame; set by `squid_core.scoring.analysis`, which picks it).
    """

    score: float | None
    raw_logit: float | None
    operating_point: OperatingPoint | None
    reconstruction: np.ndarray | None
    heatmap: np.ndarray | None
    heatmap_units: str
    heatmap_scale_max: float
    model_name: str
    model_version: str
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    calibrated: bool = True
    notes: list[str] = field(default_factory=list)
    status: str = SCORED
    status_reason: str = ""
    ood_distance: float | None = None
    ood_threshold: float | None = None
    forced: bool = False
    frame: int = 0

    @property
    def flagged(self) -> bool | None:  # type: ignore[override]
        """Flagged at ``operating_point`` (None without a point or a score)."""
        return None if self.operating_point is None else self.operating_point.flag(self.score)

    def at(self, operating_point: OperatingPoint | None) -> AnalysisResult:
        """This result read at another operating point (nothing is scored again)."""
        if operating_point == self.operating_point:
            return self
        return dataclasses.replace(self, operating_point=operating_point)


def verdict(status: str, flagged: bool | None) -> str:
    """``FLAG`` / ``no flag`` / ``no operating point`` for a scored result; ``not
    applicable`` / ``outside training data`` otherwise (these come first: a result the
    model cannot vouch for is never shown as "no flag")."""
    if status == NOT_APPLICABLE:
        return "not applicable"
    if status == OUTSIDE:
        return "outside training data"
    return {True: "FLAG", False: "no flag", None: "no operating point"}[flagged]
