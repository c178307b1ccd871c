"""Stratified bootstrap confidence intervals for AUC, sensitivity and specificity.

A figure measured on 100 normal and 100 abnormal images is uncertain by several
points; these intervals say by how much. Normals and abnormals are resampled
separately (stratified: every resample keeps the class counts of the data, as a
study that fixed them would), ``n_boot`` times from a seeded generator, and the
interval is the percentile interval of the resampled statistic (2.5th and 97.5th
percentiles for 95 %). Resamples are drawn as multinomial counts per image, so the
AUC of every resample is one weighted sum over the pairwise comparison matrix, with
no per-resample sort.

Conventions as in :mod:`squid_core.metrics`: label 1 = abnormal, a higher score is
more anomalous, an image is flagged when ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from squid_core.metrics import as_arrays

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "Interval",
    "resample_counts",
    "bootstrap_auc",
    "bootstrap_rates",
    "bootstrap_auc_difference",
]

#: Resamples used by ``squid eval`` unless told otherwise (percentile ends stable to
#: about 0.005 for an AUC on 100 + 100 images).
DEFAULT_BOOTSTRAP = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval (NaN where undefined)."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high,
                "level": self.level}

    def __str__(self) -> str:
        if self.low != self.low:  # NaN
            return f"{self.estimate:.3f}"
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _split(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    s, y = as_arrays(scores, labels)
    return s[y == 0], s[y == 1]


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) int counts: how often each of ``n`` items is drawn in each resample
    of size ``n`` with replacement."""
    if n == 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def _check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def bootstrap_auc(
    scores: Sequence[float], labels: Sequence[int], *, n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0, level: float = 0.95,
) -> Interval:
    """AUC (ties count half) with its stratified bootstrap interval; all NaN when a
    class is missing."""
    _check(n_boot, level)
    neg, pos = _split(scores, labels)
    if neg.size == 0 or pos.size == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level)
    # wins[i, j]: abnormal i ranked above normal j (1), tied (1/2), below (0)
    wins = (np.sign(pos[:, None] - neg[None, :]) + 1.0) / 2.0
    estimate = float(wins.mean())
    rng = np.random.default_rng(seed)
    w_pos = resample_counts(pos.size, n_boot, rng).astype(np.float64)
    w_neg = resample_counts(neg.size, n_boot, rng).astype(np.float64)
    aucs = np.einsum("bi,ij,bj->b", w_pos, wins, w_neg, optimize=True) / (pos.size * neg.size)
    return Interval(estimate, *_percentiles(aucs, level), level)


def _rate(flags: np.ndarray, n_boot: int, rng: np.random.Generator, level: float) -> Interval:
    if flags.size == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level)
    counts = resample_counts(flags.size, n_boot, rng)
    rates = counts @ flags.astype(np.float64) / flags.size
    return Interval(float(flags.mean()), *_percentiles(rates, level), level)


def bootstrap_rates(
    scores: Sequence[float], labels: Sequence[int], threshold: float, *,
    n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, level: float = 0.95,
) -> dict[str, Interval]:
    """``{"sensitivity", "specificity"}`` at ``score >= threshold`` with their intervals
    (abnormals and normals resampled separately; NaN for a missing class)."""
    _check(n_boot, level)
    neg, pos = _split(scores, labels)
    rng = np.random.default_rng(seed)
    return {
        "sensitivity": _rate(pos >= threshold, n_boot, rng, level),
        "specificity": _rate(neg < threshold, n_boot, rng, level),
    }


def bootstrap_auc_difference(
    scores_a: Sequence[float], scores_b: Sequence[float], labels: Sequence[int], *,
    n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, level: float = 0.95,
) -> Interval:
    """AUC(b) - AUC(a) on the same images (paired: every resample draws the same images
    for both), with its stratified bootstrap interval. An interval that excludes 0 says
    the two scores rank these images differently beyond resampling noise."""
    _check(n_boot, level)
    a_neg, a_pos = _split(scores_a, labels)
    b_neg, b_pos = _split(scores_b, labels)
    if a_neg.size == 0 or a_pos.size == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, level)
    wins = [(np.sign(p[:, None] - n[None, :]) + 1.0) / 2.0 for p, n in ((a_pos, a_neg),
                                                                      (b_pos, b_neg))]
    diff = wins[1] - wins[0]
    rng = np.random.default_rng(seed)
    w_pos = resample_counts(a_pos.size, n_boot, rng).astype(np.float64)
    w_neg = resample_counts(a_neg.size, n_boot, rng).astype(np.float64)
    d = np.einsum("bi,ij,bj->b", w_pos, diff, w_neg, optimize=True) / (a_pos.size * a_neg.size)
    return Interval(float(diff.mean()), *_percentiles(d, level), level)
