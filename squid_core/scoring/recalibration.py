"""How many of a site's normals a re-calibration needs: a simulation over real logits.

``squid calibrate --normal DIR`` (without a labelled validation folder) sets mu and
sigma from the site's normals and places the ``balanced`` point on those same
normals (:func:`squid_core.scoring.operating_point.default_operating_points`, with the
bootstrap margin by default). What a site then sees is the specificity on its *other*
normals. :func:`recalibration_draws` repeats that: draw ``n`` normals from a pool of
raw logits, calibrate on them with the product's own functions, and measure the
specificity on normals disjoint from the draw. The spread over draws says how much a
re-calibration on ``n`` normals can be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from squid_core.scoring.calibration import logit_calibration, scores_from_logits
from squid_core.scoring.operating_point import default_operating_points

__all__ = ["recalibrated_threshold", "recalibration_draws", "SpecificitySpread"]


def recalibrated_threshold(
    normal_logits: Sequence[float], min_specificity: float = 0.90, margin: str = "bootstrap",
) -> tuple[float, float, float]:
    """``(mu, sigma, balanced threshold on the score)`` after calibrating on these
    normals alone, as ``squid calibrate`` without a validation folder does."""
    cal = logit_calibration(np.asarray(normal_logits, dtype=np.float64))
    scores = scores_from_logits(normal_logits, cal["mu"], cal["sigma"])
    points, _ = default_operating_points(scores, np.zeros(len(scores), int),
                                         min_specificity=min_specificity, margin=margin,
                                         source="site normals")
    return float(cal["mu"]), float(cal["sigma"]), float(points[0]["threshold"])


@dataclass(frozen=True)
class SpecificitySpread:
    """Achieved specificity over draws: mean, SD, 5th percentile, share below a bar."""

    n: int
    draws: int
    mean: float
    sd: float
    p05: float
    share_below: float  # share of draws whose specificity is below ``bar``
    bar: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def recalibration_draws(
    pool_logits: Sequence[float], n: int, draws: int, *, min_specificity: float = 0.90,
    margin: str = "bootstrap", bar: float = 0.85, seed: int = 0,
) -> tuple[np.ndarray, SpecificitySpread]:
    """Achieved specificities (one per draw) of re-calibrating on ``n`` normals drawn
    without replacement from the pool, measured on all the pool's other normals."""
    pool = np.asarray(pool_logits, dtype=np.float64)
    if not 2 <= n < pool.size:
        raise ValueError(f"need 2 <= n < {pool.size} (the pool), got n = {n}")
    rng = np.random.default_rng(seed)
    achieved = np.empty(draws)
    for d in range(draws):
        take = np.zeros(pool.size, bool)
        take[rng.choice(pool.size, n, replace=False)] = True
        mu, sigma, t = recalibrated_threshold(pool[take], min_specificity, margin)
        achieved[d] = float(np.mean(scores_from_logits(pool[~take], mu, sigma) < t))
    spread = SpecificitySpread(n, draws, float(achieved.mean()),
                               float(achieved.std(ddof=1)) if draws > 1 else 0.0,
                               float(np.percentile(achieved, 5)),
                               float(np.mean(achieved < bar)), bar)
    return achieved, spread
