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

__all__ = ["RobustnessRow", "robustness_table", "format_table", "flagging_logit", "SHIFT_BAND",
           "MIN_DISEASE_AUC"]

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
    specificity: float | None = None  # of the transformed normals at ``flag_below`` (if given)

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
    flag_below: float | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[RobustnessRow]:
    """The untouched row, then one row per nuisance. Image ``i`` gets noise seed
    ``seed + i``, so a table is reproducible. ``auc_disease`` carries a stratified
    bootstrap 95 % interval (``n_boot`` resamples, seeded). With ``flag_below`` (the
    raw logit at or below which an image is flagged, e.g. from
    :func:`flagging_logit`), each row also gives the specificity of the transformed
    normals at that operating point: what a site acquiring that way would see."""
    if not normals or not abnormals:
        raise ValueError("the yardstick needs at least one normal and one abnormal image")
    base = np.asarray(score_logits(normals), dtype=np.float64)
    abn = np.asarray(score_logits(abnormals), dtype=np.float64)

    def row(label: str, description: str, logits: np.ndarray) -> RobustnessRow:
        ci = bootstrap_auc(-np.r_[logits, abn], np.r_[np.zeros(logits.size), np.ones(abn.size)],
                           n_boot=n_boot, seed=seed)
        spec = None if flag_below is None else float(np.mean(logits > flag_below))
        return RobustnessRow(label, description, _two_class_auc(base, logits), ci.estimate,
                             ci.low, ci.high, float(np.mean(logits - base)), spec)

    rows = [row("none", "untouched", base)]
    for nuisance in nuisances:
        progress(nuisance.label)
        moved = [nuisance.apply(im, seed + i) for i, im in enumerate(normals)]
        rows.append(row(nuisance.label, nuisance.description,
                        np.asarray(score_logits(moved), dtype=np.float64)))
    return rows


def flagging_logit(threshold: float, mu: float, sigma: float) -> float:
    """The raw logit at or below which ``score >= threshold`` (score = 100 * (1 -
    sigmoid((raw - mu) / sigma)), threshold strictly between 0 and 100)."""
    if not 0.0 < threshold < 100.0:
        raise ValueError(f"threshold must be strictly between 0 and 100, got {threshold}")
    p = threshold / 100.0
    return float(mu + sigma * np.log((1.0 - p) / p))


def format_table(rows: Sequence[RobustnessRow], point_name: str | None = None) -> str:
    """A Markdown table of the rows (pipe-separated, one line each); with ``point_name``
    a column of the transformed normals' specificity at that operating point."""
    spec_head = f" specificity at '{point_name}' |" if point_name else ""
    lines = [
        "| transform of the normals | AUC normals vs transformed (0.5 = ignored) "
        f"| AUC transformed normals vs abnormal [95 % CI] | mean logit shift |{spec_head} holds |",
        "|---|---|---|---|" + ("---|" if point_name else "") + "---|",
    ]
    for r in rows:
        spec = "" if not point_name else (
            " n/a |" if r.specificity is None else f" {r.specificity:.3f} |")
        lines.append(
            f"| {r.description} | {r.auc_shift:.3f} | {r.auc_disease:.3f} "
            f"[{r.auc_disease_low:.3f}, {r.auc_disease_high:.3f}] | {r.mean_logit_shift:+.2f} "
            f"|{spec} {'yes' if r.holds else 'no'} |"
        )
    return "\n".join(lines)
