"""The robustness yardstick: does the score move when only framing or exposure does?

For each nuisance (:mod:`squid_core.scoring.nuisance`) applied to held-out *normal*
images, two AUCs, both ranking by the raw discriminator logit (low = anomalous, the
score's order without its saturation ties):

* ``auc_shift``: untouched normals (label 0) against the same normals transformed
  (label 1). 0.5 means the score ignores the nuisance; above 0.5 the transform makes
  normals look abnormal (false alarms at a site that frames or exposes that way),
  below 0.5 it makes them look *more* normal.
* ``auc_disease``: transformed normals (label 0) against the untouched abnormal images
  (label 1): how well disease is still told apart from normals acquired that way.

Target for a robust model (issue 15): ``auc_shift`` within 0.40-0.60 and
``auc_disease`` at least 0.85 under every transform. Images are given as arrays, so
callers choose and read the data; ``score_logits`` is any ``list[image] -> logits``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from squid_core.bootstrap import DEFAULT_BOOTSTRAP, bootstrap_auc
from squid_core.metrics import auc
from squid_core.scoring.nuisance import Nuisance

__all__ = ["RobustnessRow", "robustness_table", "format_table", "SHIFT_BAND", "MIN_DISEASE_AUC"]

#: The band of ``auc_shift`` that counts as "the score ignores the nuisance".
SHIFT_BAND = (0.40, 0.60)
#: The least ``auc_disease`` that counts as "still tells disease apart".
MIN_DISEASE_AUC = 0.85

LogitFn = Callable[[Sequence[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class RobustnessRow:
    """One line of the table (``nuisance`` None: the untouched images)."""

    label: str
    description: str
    auc_shift: float
    auc_disease: float
    auc_disease_low: float
    auc_disease_high: float
    mean_logit_shift: float  # mean over images of logit(transformed) - logit(original)

    @property
    def holds(self) -> bool:
        """Both targets met."""
        return (SHIFT_BAND[0] <= self.auc_shift <= SHIFT_BAND[1]
                and self.auc_disease >= MIN_DISEASE_AUC)

    def as_dict(self) -> dict:
        return {**asdict(self), "holds": self.holds}


def _two_class_auc(neg_logits: np.ndarray, pos_logits: np.ndarray) -> float:
    ranks = -np.concatenate([neg_logits, pos_logits])
    return auc(ranks, np.r_[np.zeros(neg_logits.size), np.ones(pos_logits.size)])


def robustness_table(
    score_logits: LogitFn,
    normals: Sequence[np.ndarray],
    abnormals: Sequence[np.ndarray],
    nuisances: Sequence[Nuisance],
    *,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOTSTRAP,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[RobustnessRow]:
    """The untouched row, then one row per nuisance. Image ``i`` gets noise seed
    ``seed + i``, so a table is reproducible. ``auc_disease`` carries a stratified
    bootstrap 95 % interval (``n_boot`` resamples, seeded)."""
    if not normals or not abnormals:
        raise ValueError("the yardstick needs at least one normal and one abnormal image")
    base = np.asarray(score_logits(normals), dtype=np.float64)
    abn = np.asarray(score_logits(abnormals), dtype=np.float64)

    def row(label: str, description: str, logits: np.ndarray) -> RobustnessRow:
        ci = bootstrap_auc(-np.r_[logits, abn], np.r_[np.zeros(logits.size), np.ones(abn.size)],
                           n_boot=n_boot, seed=seed)
        return RobustnessRow(label, description, _two_class_auc(base, logits), ci.estimate,
                             ci.low, ci.high, float(np.mean(logits - base)))

    rows = [row("none", "untouched", base)]
    for nuisance in nuisances:
        progress(nuisance.label)
        moved = [nuisance.apply(im, seed + i) for i, im in enumerate(normals)]
        rows.append(row(nuisance.label, nuisance.description,
                        np.asarray(score_logits(moved), dtype=np.float64)))
    return rows


def format_table(rows: Sequence[RobustnessRow]) -> str:
    """A Markdown table of the rows (pipe-separated, one line each)."""
    lines = [
        "| transform of the normals | AUC normals vs transformed (0.5 = ignored) "
        "| AUC transformed normals vs abnormal [95 % CI] | mean logit shift | holds |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.description} | {r.auc_shift:.3f} | {r.auc_disease:.3f} "
            f"[{r.auc_disease_low:.3f}, {r.auc_disease_high:.3f}] | {r.mean_logit_shift:+.2f} "
            f"| {'yes' if r.holds else 'no'} |"
        )
    return "\n".join(lines)
