"""The analysis service: a queue of images, worker processes that hold the model, events.

Qt-free, so that the headless node (``squid node``) and, later, the viewer are two
clients of the same thing. See docs/architecture.md, "Contract: analysis service".
"""

from squid_core.service.analysis_service import AnalysisService, ServiceError
from squid_core.service.jobs import (
    PRIORITY_BACKGROUND,
    PRIORITY_NORMAL,
    PRIORITY_VISIBLE,
    Job,
    JobOutcome,
    SourceInfo,
)
from squid_core.service.worker import ModelSpec

__all__ = [
    "AnalysisService", "Job", "JobOutcome", "ModelSpec", "PRIORITY_BACKGROUND",
    "PRIORITY_NORMAL", "PRIORITY_VISIBLE", "ServiceError", "SourceInfo",
]
