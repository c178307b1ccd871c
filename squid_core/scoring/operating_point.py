"""Operating points: named score thresholds chosen on validation data.

Pure functions over ``(scores, labels)`` (score: 0-100, higher = more anomalous;
label 1 = abnormal). An image is flagged when ``score >= threshold``, the rule the
model file stores. A threshold is always placed half-way between two adjacent
distinct validation scores, so the choice does not hinge on one image's exact
score, and reproduces on the validation set exactly the sensitivity/specificity it
reports.

The two named points the product ships:

* ``balanced`` - the lowest threshold at which the **lower end of the 95 % stratified
  bootstrap interval** of the specificity on the validation normals is >= 0.90 (flags
  as many images as possible while keeping false alarms on normals at 10 % or fewer,
  with a margin for the sampling noise of the validation set);
* ``high sensitivity`` - the highest threshold whose sensitivity is >= 0.95.

Why the margin: the lowest threshold with a *point* specificity of 0.90 on 100
validation normals sits, by construction, where the normals' score distribution was
sampled a little favourably; on the next 100 normals of the same population the
specificity is lower about half of the time (and its 95 % interval spans roughly
0.84-0.96). Asking the bootstrap lower bound to reach the target moves the
threshold up until the target holds with 97.5 % confidence over resamples of the
same validation set (``margin="bootstrap"``, the default; ``margin="none"`` is the
old point rule). The margin covers sampling noise only: a site whose images differ
from the validation set (framing, exposure, detector, population) needs
re-calibration on its own normals (``squid calibrate``; how many normals that needs
is measured in ``bench/recalibration.py`` and stated in the model card).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from squid_core.bootstrap import DEFAULT_BOOTSTRAP, resample_counts
from squid_core.metrics import metrics_at_threshold

__all__ = [
    "OperatingPoint",
    "operating_points_of",
    "default_operating_point_of",
    "point_named",
    "candidate_thresholds",
    "threshold_for_specificity",
    "threshold_for_specificity_bound",
    "threshold_for_sensitivity",
    "operating_point",
    "balanced_threshold",
    "default_operating_points",
    "MARGINS",
]


@dataclass(frozen=True)
class OperatingPoint:
    """A named score threshold stored in a model file: a value, never mutated.

    The scorer returns scores; whether a score is flagged is derived here, so a viewer
    that switches points re-derives every flag without re-scoring and without writing
    state another thread reads.
    """

    name: str
    threshold: float
    rule: str = ""
    sensitivity: float | None = None
    specificity: float | None = None

    def flag(self, score: float | None) -> bool | None:
        """``score >= threshold``; None for a result without a score."""
        return None if score is None else bool(float(score) >= self.threshold)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OperatingPoint:
        """From the model-file form (``{"name", "threshold", "rule", ...}``)."""
        num = (lambda v: None if v is None else float(v))  # noqa: E731
        return cls(name=str(d["name"]), threshold=float(d["threshold"]),
                   rule=str(d.get("rule") or ""), sensitivity=num(d.get("sensitivity")),
                   specificity=num(d.get("specificity")))

    def to_dict(self) -> dict[str, Any]:
        """The model-file form."""
        return {"name": self.name, "threshold": self.threshold, "rule": self.rule,
                "sensitivity": self.sensitivity, "specificity": self.specificity}


def operating_points_of(metadata: Mapping[str, Any] | None) -> tuple[OperatingPoint, ...]:
    """Every operating point a model file's metadata stores, in its order."""
    return tuple(OperatingPoint.from_dict(op)
                 for op in (metadata or {}).get("operating_points") or [])


def default_operating_point_of(metadata: Mapping[str, Any] | None) -> OperatingPoint | None:
    """The metadata's default operating point, or None (no point, or no default named)."""
    name = (metadata or {}).get("default_operating_point")
    return next((op for op in operating_points_of(metadata) if op.name == name), None)


def point_named(points: Sequence[OperatingPoint], name: str) -> OperatingPoint:
    """The point called ``name``; KeyError with the known names otherwise."""
    op = next((o for o in points if o.name == name), None)
    if op is None:
        known = ", ".join(o.name for o in points) or "none"
        raise KeyError(f"the model has no operating point {name!r} (it has: {known})")
    return op


def candidate_thresholds(scores: Sequence[float]) -> np.ndarray:
    """Every distinct way to split the scores, as thresholds in increasing order.

    The first flags everything (the lowest score), the last flags nothing (above the
    highest score); the others are mid-points between adjacent distinct scores.
    """
    u = np.unique(np.asarray(scores, dtype=np.float64))
    if u.size == 0:
        return np.array([0.0])
    mids = (u[:-1] + u[1:]) / 2.0
    return np.concatenate([[u[0]], mids, [u[-1] + max(1e-6, abs(u[-1]) * 1e-6)]])


def threshold_for_specificity(
    scores: Sequence[float], labels: Sequence[int], min_specificity: float
) -> float:
    """Lowest threshold whose specificity on the normals (label 0) is >= ``min_specificity``."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    normals = s[y == 0]
    if normals.size == 0:
        raise ValueError("specificity needs at least one normal (label 0) score")
    for t in candidate_thresholds(s):  # specificity never decreases as t grows
        if np.mean(normals < t) >= min_specificity - 1e-12:
            return float(t)
    raise AssertionError("unreachable: the last candidate flags nothing")


def threshold_for_specificity_bound(
    scores: Sequence[float],
    labels: Sequence[int],
    min_specificity: float,
    *,
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> float:
    """Lowest threshold at which the lower end of the ``level`` stratified bootstrap
    interval of the specificity (the normals, label 0, resampled ``n_boot`` times,
    seeded) is >= ``min_specificity``.

    Never lower than :func:`threshold_for_specificity`'s point rule. With few normals
    the bound may not reach the target below the highest normal score: the threshold
    then flags no validation normal (the only rule that can be stated with confidence).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    normals = s[y == 0]
    if normals.size == 0:
        raise ValueError("specificity needs at least one normal (label 0) score")
    counts = resample_counts(normals.size, n_boot, np.random.default_rng(seed))
    # The specificity only changes just above a distinct normal score: per resample, the
    # share of normals at or below each distinct value (cumulative counts, O(n_boot * n)).
    order = np.argsort(normals, kind="stable")
    values, starts = np.unique(normals[order], return_index=True)
    per_value = np.add.reduceat(counts[:, order], starts, axis=1)
    spec = np.cumsum(per_value, axis=1) / normals.size  # (n_boot, n_distinct)
    lower = np.percentile(spec, 100 * (1.0 - level) / 2.0, axis=0)
    cands = candidate_thresholds(s)
    ok = np.flatnonzero(lower >= min_specificity - 1e-12)
    if ok.size:  # the lowest candidate above that normal score
        return float(cands[np.searchsorted(cands, values[ok[0]], side="right")])
    return float(cands[-1])


def threshold_for_sensitivity(
    scores: Sequence[float], labels: Sequence[int], min_sensitivity: float
) -> float:
    """Highest threshold whose sensitivity on the abnormals (label 1) is >= ``min_sensitivity``."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(int)
    abnormals = s[y == 1]
    if abnormals.size == 0:
        raise ValueError("sensitivity needs at least one abnormal (label 1) score")
    for t in candidate_thresholds(s)[::-1]:  # sensitivity never decreases as t falls
        if np.mean(abnormals >= t) >= min_sensitivity - 1e-12:
            return float(t)
    raise AssertionError("unreachable: the first candidate flags everything")


def operating_point(
    name: str, threshold: float, rule: str, scores: Sequence[float], labels: Sequence[int]
) -> dict[str, Any]:
    """One operating point in the model-file format, with its validation rates.

    Sensitivity or specificity is ``None`` when the validation set lacks that class.
    """
    y = np.asarray(labels).astype(int)
    m = metrics_at_threshold(scores, y, threshold)
    return {
        "name": name,
        "threshold": float(threshold),
        "rule": rule,
        "sensitivity": float(m.sensitivity) if np.any(y == 1) else None,
        "specificity": float(m.specificity) if np.any(y == 0) else None,
    }


MARGINS = ("bootstrap", "none")


def balanced_threshold(
    scores: Sequence[float], labels: Sequence[int], min_specificity: float,
    margin: str = "bootstrap",
) -> tuple[float, str]:
    """``(threshold, rule in words)`` for a target specificity, with or without the
    bootstrap margin (see the module docstring)."""
    if margin == "bootstrap":
        t = threshold_for_specificity_bound(scores, labels, min_specificity)
        return t, (f"lowest threshold with specificity >= {min_specificity:.2f} at the lower "
                   f"end of its 95 % bootstrap interval")
    if margin == "none":
        t = threshold_for_specificity(scores, labels, min_specificity)
        return t, f"lowest threshold with specificity >= {min_specificity:.2f}"
    raise ValueError(f"margin must be one of {', '.join(MARGINS)}, got {margin!r}")


def default_operating_points(
    scores: Sequence[float],
    labels: Sequence[int],
    *,
    min_specificity: float = 0.90,
    min_sensitivity: float = 0.95,
    source: str = "validation split",
    margin: str = "bootstrap",
) -> tuple[list[dict[str, Any]], str]:
    """The ``balanced`` and (when abnormal scores exist) ``high sensitivity`` points.

    ``margin="bootstrap"`` (default) places ``balanced`` where the 95 % bootstrap lower
    bound of the specificity reaches ``min_specificity``; ``"none"`` where the point
    estimate does. Returns ``(points, default_name)``; the default is ``balanced``.
    """
    y = np.asarray(labels).astype(int)
    n_norm, n_abn = int(np.sum(y == 0)), int(np.sum(y == 1))
    counts = f"{source}: {n_norm} normal, {n_abn} abnormal"
    t_bal, rule = balanced_threshold(scores, y, min_specificity, margin)
    points = [operating_point("balanced", t_bal, f"{rule} on the {counts}", scores, y)]
    if n_abn:
        t_sens = threshold_for_sensitivity(scores, y, min_sensitivity)
        points.append(
            operating_point(
                "high sensitivity",
                t_sens,
                f"highest threshold with sensitivity >= {min_sensitivity:.2f} on the {counts}",
                scores,
                y,
            )
        )
    return points, "balanced"
