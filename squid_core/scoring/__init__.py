"""Scoring images with a SQUID model: device choice, Scorer, AnalysisResult, heatmaps,
calibration and operating points. Import the submodules directly; the names below
are re-exported lazily so that ``import squid_core.scoring`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnalysisResult", "Scorer", "resolve_device"]


def __getattr__(name: str) -> Any:
    if name == "Scorer":
        from squid_core.scoring.scorer import Scorer

        return Scorer
    if name == "AnalysisResult":
        from squid_core.scoring.result import AnalysisResult

        return AnalysisResult
    if name == "resolve_device":
        from squid_core.scoring.device import resolve_device

        return resolve_device
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
