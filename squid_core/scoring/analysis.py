"""Analyse an image as every surface does: the frame, applicability, then the scorer.

``analyse_images`` (an ``ImageData`` and, optionally, the frame to score) and
``analyse_batch`` (pixels already taken from a frame, and the metadata) are the one path
to an `AnalysisResult` with its status, shared by ``squid score`` / ``squid eval``, the
analysis service's workers (the viewer, the node), the viewer's in-process runner and
the benches:

* the frame: a multi-frame image is scored on one frame, chosen by `scoring_frame`
  alone: the frame the user has on screen when they analyse it in the viewer, else the
  first (``DEFAULT_FRAME``; "Analyse all", the CLI, the node, training and calibration).
  The result says which (``AnalysisResult.frame``, 0-based), and so does every surface:
  the viewer's CSV and ``squid score`` (``frame``), the DICOM SR (the referenced frame
  number, 1-based, for a multi-frame source). Multi-frame objects are not applicable to
  the bundled model, so this matters for "Analyse anyway" and ``--force``;

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

__all__ = ["DEFAULT_FRAME", "FORCED_NOTE", "analyse", "analyse_batch", "analyse_image",
           "analyse_images", "not_applicable_reason", "rules_of", "scoring_frame"]

#: The frame of a multi-frame image scored when nobody chose one: the first.
DEFAULT_FRAME = 0

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


def scoring_frame(image: Any, frame: int | None = None) -> tuple[np.ndarray, int]:
    """``(pixels (H, W), frame index)`` of ``image`` (an ``ImageData``) to score: ``frame``
    when given (the viewer's frame on screen), else `DEFAULT_FRAME`. The one place any
    surface picks the frame; an index the image does not have is an ``IndexError``
    saying how many frames it has."""
    index = DEFAULT_FRAME if frame is None else int(frame)
    return image.frame(index), index


def analyse_batch(scorer: Any, items: Sequence[tuple[np.ndarray, Any]], *,
                  force: bool = False, frames: Sequence[int] | None = None,
                  ) -> list[AnalysisResult]:
    """Results for ``(pixels (H, W) in [0, 1], ImageMetadata or None)`` pairs, in order;
    the applicable (or forced) ones are scored in one batch. ``frames``: the frame each
    pixel array was taken from (see `scoring_frame`; default `DEFAULT_FRAME`), recorded
    in the results."""
    rules = rules_of(scorer)
    reasons = [check_applicability(meta, rules) if meta is not None else [] for _, meta in items]
    to_score = [i for i, r in enumerate(reasons) if force or not r]
    scored = dict(zip(to_score, _score(scorer, [items[i][0] for i in to_score]),
                      strict=True)) if to_score else {}
    results = []
    for i, why in enumerate(reasons):
        if i not in scored:
            result = _unscored(scorer, not_applicable_reason(why))
            result.frame = DEFAULT_FRAME if frames is None else int(frames[i])
            results.append(result)
            continue
        result = scored[i]
        result.frame = DEFAULT_FRAME if frames is None else int(frames[i])
        if why:
            result.status, result.forced = NOT_APPLICABLE, True
            result.status_reason = not_applicable_reason(why) + " (analysed anyway)"
            result.notes.append(FORCED_NOTE)
        results.append(result)
    return results


def analyse(scorer: Any, pixels: np.ndarray, meta: Any = None, *,
            force: bool = False, frame: int = DEFAULT_FRAME) -> AnalysisResult:
    """One image's pixels (taken from ``frame``); see `analyse_batch`."""
    return analyse_batch(scorer, [(pixels, meta)], force=force, frames=[frame])[0]


def analyse_images(scorer: Any, images: Sequence[Any], *, force: bool = False,
                   frames: Sequence[int | None] | None = None) -> list[AnalysisResult]:
    """Results for ``ImageData`` objects, each on the frame `scoring_frame` picks
    (``frames[i]`` when given and not None, else the first), in one batch."""
    picked = [scoring_frame(im, None if frames is None else frames[i])
              for i, im in enumerate(images)]
    return analyse_batch(scorer, [(px, im.meta) for (px, _), im in zip(picked, images,
                                                                        strict=True)],
                         force=force, frames=[f for _, f in picked])


def analyse_image(scorer: Any, image: Any, frame: int | None = None, *,
                  force: bool = False) -> AnalysisResult:
    """One ``ImageData`` on the frame `scoring_frame` picks; see `analyse_batch`."""
    return analyse_images(scorer, [image], force=force, frames=[frame])[0]
