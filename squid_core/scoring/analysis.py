"""Analyse an image as every surface does: applicability first, then the scorer.

``analyse_batch`` is the one path from (pixels, metadata) to an `AnalysisResult` with
its status, shared by ``squid score``, the viewer and exports:

* the file is checked against the model's applicability rules
  (`squid_core.scoring.applicability`); a file that is not applicable is not scored
  (``status="not-applicable"``, score None, the reasons in ``status_reason``) unless
  ``force`` is given, in which case it is scored and keeps its not-applicable status and
  reason, with ``forced=True`` and a note;
* otherwise the scorer's own status stands (``scored`` or ``outside`` its guard).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from squid_core.scoring.applicability import ApplicabilityRules, check_applicability
from squid_core.scoring.result import NOT_APPLICABLE, AnalysisResult

__all__ = ["FORCED_NOTE", "analyse", "analyse_batch", "not_applicable_reason", "rules_of"]

#: What a result scored although not applicable says, in ``notes``.
FORCED_NOTE = "analysed anyway at the user's request although not applicable"


def rules_of(scorer: Any) -> ApplicabilityRules:
    """The applicability rules of the scorer's model (defaults for older model files)."""
    return ApplicabilityRules.from_metadata(getattr(getattr(scorer, "model", None),
                                                    "metadata", None))


def not_applicable_reason(reasons: Sequence[str]) -> str:
    """One sentence for the user from the applicability reasons."""
    return "not applicable: " + "; ".join(reasons)


def _unscored(scorer: Any, reason: str) -> AnalysisResult:
    model = getattr(scorer, "model", None)
    return AnalysisResult(
        score=None, raw_logit=None,
        operating_point=getattr(scorer, "operating_point", None),
        reconstruction=None, heatmap=None, heatmap_units="", heatmap_scale_max=0.0,
        model_name=str(getattr(model, "name", "")), model_version=str(getattr(model, "version", "")),
        device=str(getattr(scorer, "device", "")), calibrated=getattr(scorer, "calibrated", True),
        status=NOT_APPLICABLE, status_reason=reason,
    )


def _score(scorer: Any, images: list[np.ndarray]) -> list[AnalysisResult]:
    """One batch through ``score_batch``; one image through ``score`` (what a scorer
    without batches, such as the viewer tests' scripted one, provides)."""
    if len(images) == 1 or not hasattr(scorer, "score_batch"):
        return [scorer.score(im) for im in images]
    return scorer.score_batch(images)


def analyse_batch(scorer: Any, items: Sequence[tuple[np.ndarray, Any]], *,
                  force: bool = False) -> list[AnalysisResult]:
    """Results for ``(pixels (H, W) in [0, 1], ImageMetadata or None)`` pairs, in order;
    the applicable (or forced) ones are scored in one batch."""
    rules = rules_of(scorer)
    reasons = [check_applicability(meta, rules) if meta is not None else [] for _, meta in items]
    to_score = [i for i, r in enumerate(reasons) if force or not r]
    scored = dict(zip(to_score, _score(scorer, [items[i][0] for i in to_score]),
                      strict=True)) if to_score else {}
    results = []
    for i, why in enumerate(reasons):
        if i not in scored:
            results.append(_unscored(scorer, not_applicable_reason(why)))
            continue
        result = scored[i]
        if why:
            result.status, result.forced = NOT_APPLICABLE, True
            result.status_reason = not_applicable_reason(why) + " (analysed anyway)"
            result.notes.append(FORCED_NOTE)
        results.append(result)
    return results


def analyse(scorer: Any, pixels: np.ndarray, meta: Any = None, *,
            force: bool = False) -> AnalysisResult:
    """One image; see `analyse_batch`."""
    return analyse_batch(scorer, [(pixels, meta)], force=force)[0]
