"""Classification metrics for anomaly scores: AUC, ROC points, and confusion-based rates.

Convention used throughout the project: label 1 = abnormal (positive), 0 = normal;
a higher score means more anomalous; an image is flagged when ``score >= threshold``
(the same rule the model file's operating points use). Thin wrappers over
scikit-learn so that every caller (training validation, ``squid eval``, the wizard)
computes the numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["ThresholdMetrics", "as_arrays", "auc", "roc_points", "metrics_at_threshold"]


def as_arrays(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Scores (float64) and labels (int64) as flat arrays, checked: same length, labels 0/1."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must be 0 (normal) or 1 (abnormal)")
    return s, y


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve; NaN when only one class is present (AUC undefined)."""
    s, y = as_arrays(scores, labels)
    if np.unique(y).size < 2:
        return float("nan")
    from sklearn.metrics import roc_auc_score  # here: importing scikit-learn costs ~1 s

    return float(roc_auc_score(y, s))


def roc_points(scores: Sequence[float], labels: Sequence[int]) -> dict[str, list[float]]:
    """ROC curve as plain lists: false-positive rate, true-positive rate, thresholds.

    Thresholds follow the ``score >= threshold`` rule. scikit-learn's first point has
    an infinite threshold (nothing flagged); it is replaced by ``max(score) + 1`` so
    that the result is valid JSON.
    """
    s, y = as_arrays(scores, labels)
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=True)
    thr = np.where(np.isfinite(thr), thr, (s.max() if s.size else 0.0) + 1.0)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr.tolist()}


@dataclass(frozen=True)
class ThresholdMetrics:
    """Confusion-matrix metrics at one threshold (positives = abnormal)."""

    threshold: float
    sensitivity: float
    specificity: float
    accuracy: float
    f1: float
    tp: int
    fp: int
    tn: int
    fn: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ratio(num: int, den: int) -> float:
    return float(num) / den if den else float("nan")


def metrics_at_threshold(
    scores: Sequence[float], labels: Sequence[int], threshold: float
) -> ThresholdMetrics:
    """Sensitivity, specificity, accuracy and F1 when flagging ``score >= threshold``.

    Rates whose denominator is zero (e.g. sensitivity with no abnormal images) are NaN
    rather than a misleading 0 or 1.
    """
    s, y = as_arrays(scores, labels)
    pred = (s >= threshold).astype(np.int64)
    from sklearn.metrics import confusion_matrix

    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    return ThresholdMetrics(
        threshold=float(threshold),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        accuracy=_ratio(tp + tn, tp + tn + fp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )
