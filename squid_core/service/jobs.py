"""What goes into the analysis service (:class:`Job`) and what comes out (:class:`JobOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Priorities: higher runs first; equal priorities run in the order submitted.
PRIORITY_VISIBLE = 100  # the image on screen
PRIORITY_NORMAL = 0
PRIORITY_BACKGROUND = -10  # "Analyse all", backlogs


@dataclass(frozen=True)
class Job:
    """One image to analyse.

    key: the client's name for it (the node uses the SOP Instance UID); unique in the queue.
    path: the file to read (decoded in the worker process, with the reader's guards).
    export_dir: when set, the worker also writes the Secondary Capture (``sc.dcm``) and the
        Comprehensive SR (``sr.dcm``) of a scored image there, both or neither.
    keep_arrays: return the reconstruction and heatmap (a viewer wants them; the node
        does not, and leaving them out keeps the pipe between the processes light).
    frame: which frame of a multi-frame image to analyse (the one on screen); None: the
        frame every surface scores when nobody chose one (the first; see
        `squid_core.scoring.analysis.scoring_frame`).
    force: score it even when it is not applicable to the model ("Analyse anyway"); the
        result keeps its not-applicable status and says it was analysed anyway.
    """

    key: str
    path: str
    priority: int = PRIORITY_NORMAL
    export_dir: str | None = None
    keep_arrays: bool = True
    frame: int | None = None
    force: bool = False


@dataclass(frozen=True)
class SourceInfo:
    """The identifiers of the analysed image (DICOM UIDs; empty for PNG/JPEG/TIFF)."""

    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_class_uid: str = ""


@dataclass
class JobOutcome:
    """The result of one job.

    status: ``"scored"`` or ``"error"``; a status the scorer's result carries (e.g.
        ``"not-applicable"``) is passed through unchanged.
    reason: why, when the status is not ``"scored"`` (a sentence without patient data).
    result: the scorer's ``AnalysisResult`` (arrays emptied unless ``job.keep_arrays``),
        None on error.
    exports: the files written to ``job.export_dir``.
    seconds: time spent in the worker (read + score + exports).
    """

    key: str
    status: str
    reason: str = ""
    result: Any = None
    source: SourceInfo = field(default_factory=SourceInfo)
    exports: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "error"
