"""`ResultSummary`: what every surface keeps and says about one analysed image (no arrays).

One summary for the viewer's catalog (the study browser, the worklist, its CSV), the DICOM
SR, ``squid score`` / ``squid eval`` (table, JSON, CSV) and the node's ``results.csv``, so
that the same result reads the same everywhere: the status and verdict come from
`ResultStatus`, the flag is derived from the frozen `OperatingPoint` it is read at
(`at` re-reads it at another point without scoring again), and `row` is the one
plain form (JSON values, keys :data:`SUMMARY_FIELDS`) that CSV and JSON writers take.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squid_core.scoring.operating_point import OperatingPoint
from squid_core.scoring.result import SCORED, ResultStatus

__all__ = ["SUMMARY_FIELDS", "ResultSummary", "flag_word"]

#: The keys of `ResultSummary.row`, in the order CSV files list them.
SUMMARY_FIELDS = (
    "score", "flagged", "status", "verdict", "status_reason", "ood_distance", "ood_threshold",
    "operating_point", "operating_threshold", "raw_logit", "model_name", "model_version",
    "device", "seconds", "frame", "forced", "analysed_at",
)


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _now() -> _dt.datetime:
    return _dt.datetime.now().astimezone()


@dataclass(frozen=True)
class ResultSummary(ResultStatus):
    """One analysed image: score, status and the point its flag is read at.

    score / raw_logit: as in `AnalysisResult` (None when not scored).
    operating_point: the `OperatingPoint` the flag is read at, or None (no point).
    seconds: the analysis time (NaN when unknown).
    frame: the frame of a multi-frame image that was scored (0: the first; see
        `squid_core.scoring.analysis.scoring_frame`).
    status / status_reason / ood_*: as in `AnalysisResult`; forced: scored although not
        applicable, at the user's request.
    analysed_at: when the result was made (local time with its offset).
    """

    score: float | None
    raw_logit: float | None
    operating_point: OperatingPoint | None
    model_name: str = ""
    model_version: str = ""
    device: str = ""
    seconds: float = math.nan
    frame: int = 0
    status: str = SCORED
    status_reason: str = ""
    ood_distance: float | None = None
    ood_threshold: float | None = None
    forced: bool = False
    analysed_at: _dt.datetime = field(default_factory=_now, compare=False)

    @property
    def flagged(self) -> bool | None:  # type: ignore[override]
        """Flagged at ``operating_point`` (None without a point or a score)."""
        return None if self.operating_point is None else self.operating_point.flag(self.score)

    @property
    def operating_point_name(self) -> str | None:
        """The name of the point the flag is read at (None without one)."""
        return None if self.operating_point is None else self.operating_point.name

    @property
    def operating_threshold(self) -> float | None:
        """Its threshold: flagged if score >= this (None without a point)."""
        return None if self.operating_point is None else self.operating_point.threshold

    @property
    def urgent(self) -> bool:
        """Flagged, or needs review: the head of the worklist."""
        return bool(self.flagged) or self.needs_review

    @property
    def status_text(self) -> str:
        """E.g. "outside: outside the model's training data (...)" or "scored"."""
        return f"{self.status}: {self.status_reason}" if self.status_reason else self.status

    def at(self, operating_point: OperatingPoint | None) -> ResultSummary:
        """This summary read at another operating point (nothing is scored again)."""
        if operating_point == self.operating_point:
            return self
        return dataclasses.replace(self, operating_point=operating_point)

    @classmethod
    def from_result(cls, result: Any, frame: int | None = None) -> ResultSummary:
        """Summarise a `squid_core.scoring.AnalysisResult`; ``frame`` defaults to the
        frame the result says it scored (``result.frame``)."""
        timings = getattr(result, "timings", None) or {}
        return cls(
            score=_num(result.score),
            raw_logit=_num(result.raw_logit),
            operating_point=result.operating_point,
            model_name=str(result.model_name),
            model_version=str(result.model_version),
            device=str(result.device),
            seconds=float(timings.get("total", math.nan)),
            frame=int(getattr(result, "frame", 0) if frame is None else frame),
            status=str(getattr(result, "status", SCORED)),
            status_reason=str(getattr(result, "status_reason", "")),
            ood_distance=_num(getattr(result, "ood_distance", None)),
            ood_threshold=_num(getattr(result, "ood_threshold", None)),
            forced=bool(getattr(result, "forced", False)),
        )

    def row(self) -> dict[str, Any]:
        """The plain form (keys :data:`SUMMARY_FIELDS`; numbers, bools, strings, None)
        that CSV and JSON writers take; `from_row` reads it back."""
        return {
            "score": self.score, "flagged": self.flagged, "status": self.status,
            "verdict": self.verdict, "status_reason": self.status_reason,
            "ood_distance": self.ood_distance, "ood_threshold": self.ood_threshold,
            "operating_point": self.operating_point_name,
            "operating_threshold": self.operating_threshold, "raw_logit": self.raw_logit,
            "model_name": self.model_name, "model_version": self.model_version,
            "device": self.device, "seconds": None if math.isnan(self.seconds) else self.seconds,
            "frame": self.frame, "forced": self.forced,
            "analysed_at": self.analysed_at.isoformat(timespec="seconds"),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ResultSummary:
        """Back from `row` (e.g. a ``squid score`` JSON record). The operating point
        keeps its name and threshold only (the rule and rates are the model file's)."""
        name, threshold = row.get("operating_point"), _num(row.get("operating_threshold"))
        op = None if not name or threshold is None else OperatingPoint(str(name), threshold)
        when = row.get("analysed_at")
        return cls(
            score=_num(row.get("score")), raw_logit=_num(row.get("raw_logit")),
            operating_point=op, model_name=str(row.get("model_name") or ""),
            model_version=str(row.get("model_version") or ""),
            device=str(row.get("device") or ""),
            seconds=math.nan if _num(row.get("seconds")) is None else float(row["seconds"]),
            frame=int(row.get("frame") or 0), status=str(row.get("status") or SCORED),
            status_reason=str(row.get("status_reason") or ""),
            ood_distance=_num(row.get("ood_distance")),
            ood_threshold=_num(row.get("ood_threshold")), forced=bool(row.get("forced")),
            analysed_at=_dt.datetime.fromisoformat(when) if when else _now(),
        )


def flag_word(summary: ResultSummary | None) -> str:
    """The flag as a CSV cell says it: "yes" / "no", "review" for a result that needs
    review (never "no": not applicable or outside the training data), "" without a
    point, a score or a result."""
    if summary is None:
        return ""
    if summary.needs_review:
        return "review"
    return {True: "yes", False: "no", None: ""}[summary.flagged]
