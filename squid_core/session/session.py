"""``Session``: what a reading client has open and the analysis it drives, without Qt.

In the spirit of napari's ``ViewerModel``: the session holds the state and emits
events; the viewer's widgets only observe it (``viewer/``), and a headless client can
drive it alike. It holds

* the open studies: :attr:`catalog` (a :class:`~squid_core.session.catalog.Catalog`,
  with its own events);
* the image on screen: :attr:`key`, :attr:`image` (an ``ImageData``), :attr:`frame`,
  and :attr:`result` (its ``AnalysisResult`` at the operating point in use, or None);
* recent results with their arrays (the image on screen is never evicted), and a
  summary of every result in the catalog;
* the active model as a :class:`~squid_core.session.model_description.ModelDescription`
  read from the model file's header (the weights live only in the analysis service's
  worker process), and the :attr:`operating_point` flags are read at (a value; results
  are re-read with ``result.at(point)``, never re-scored);
* the analysis service it drives (:class:`~squid_core.service.AnalysisService` for a
  model file, :class:`~squid_core.service.in_process.InProcessService` for a scorer
  object) and the run in progress (started, progress, finished).

Threads: the service reports on its own threads. The session hands every report to its
``deliver`` function, which must run it on the thread that owns the session; the
session changes its state and emits its events there. Without ``deliver`` the reports
are handled on the service's threads (fine for a client with no other thread touching
the session); the viewer passes a function that queues them onto the GUI thread.

Events (psygnal): ``model_changed(ModelDescription | None)``, ``model_ready(ModelDescription)``
(the worker loaded the weights; the device is the one it uses), ``model_failed(message)``,
``model_compiled(compiled, why_not)``, ``operating_point_changed(OperatingPoint)``,
``image_changed(key | None)``, ``frame_changed(frame)``,
``result_ready(key, frame, result)``, ``analysis_failed(key, message, unreadable)``,
``run_started(total)``, ``run_progress(done, total)``, ``run_finished(cancelled)``,
``cleared()``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from psygnal import Signal

from squid_core.scoring.operating_point import OperatingPoint, point_named
from squid_core.scoring.summary import ResultSummary
from squid_core.service import (
    PRIORITY_BACKGROUND,
    PRIORITY_VISIBLE,
    AnalysisService,
    Job,
    JobOutcome,
    ModelSpec,
    ServiceError,
)
from squid_core.service.in_process import InProcessService
from squid_core.session.catalog import Catalog, Entry, Rejected
from squid_core.session.model_description import (
    ModelDescription,
    describe_model_file,
    describe_scorer,
)

log = logging.getLogger(__name__)

#: How many full results (reconstruction + heatmap arrays) are kept in memory.
RESULT_CACHE = 6
#: Prefix of the worker's reason for an image that could not be decoded.
_UNREADABLE = "unreadable: "


def _call_now(fn: Callable[[], Any]) -> None:
    fn()


class Session:
    """Open studies, results, the active model and its operating point; see the module."""

    model_changed = Signal(object)
    model_ready = Signal(object)
    model_failed = Signal(str)
    model_compiled = Signal(bool, object)
    operating_point_changed = Signal(object)
    image_changed = Signal(object)
    frame_changed = Signal(int)
    result_ready = Signal(str, int, object)
    analysis_failed = Signal(str, str, bool)
    run_started = Signal(int)
    run_progress = Signal(int, int)
    run_finished = Signal(bool)
    cleared = Signal()

    def __init__(self, deliver: Callable[[Callable[[], Any]], None] | None = None, *,
                 job_timeout: float = 300.0, result_cache: int = RESULT_CACHE) -> None:
        self.catalog = Catalog()
        self.model: ModelDescription | None = None
        self.operating_point: OperatingPoint | None = None
        self.key: str | None = None
        self.image: Any = None
        self.frame = 0
        self.job_timeout = job_timeout
        self.result_cache = result_cache
        self._deliver = deliver or _call_now
        self._results: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._service: Any = None
        self._frames: dict[str, int] = {}  # key -> frame of the job asked last
        self._outstanding: set[str] = set()  # keys of this run without an outcome yet
        self._done = self._total = 0
        self._cancelled = False

    # -- open studies ------------------------------------------------------------

    def open(self, paths: Iterable[str | os.PathLike[str]],
             progress: Callable[[int, int, Any], bool] | None = None) -> list[Entry]:
        """Scan files and folders (here, now) and add what was found; returns the new
        entries. A GUI scans in a worker and calls :meth:`add_scan` with the result."""
        from squid_core.io import scan

        paths = [str(p) for p in paths]
        return self.add_scan(scan(paths, progress=progress))

    def add_scan(self, scanned: Any) -> list[Entry]:
        """Add a ``squid_core.io.scan`` result: its images and its refusals (documents in
        opened folders never reach it: the image finder skips them). Returns the new
        entries."""
        entries = [Entry.from_meta(inst.path, inst.meta) for inst in scanned.instances]
        rejected = [Rejected(Path(r.path), r.reason) for r in scanned.rejected]
        return self.catalog.add(entries, rejected)


    def clear(self) -> None:
        """Forget every open image and result (cancels the run in progress)."""
        self.cancel()
        self.catalog.clear()
        self._results.clear()
        self.show(None)
        self.cleared.emit()

    # -- the image on screen -------------------------------------------------------

    def show(self, key: str | None, image: Any = None, frame: int = 0) -> None:
        """``image`` (an ``ImageData`` read from ``key``) is on screen now, at ``frame``;
        ``show(None)``: nothing is."""
        self.key, self.image, self.frame = (key, image, frame) if key is not None else (
            None, None, 0)
        entry = self.catalog.entries.get(key or "")
        frames = getattr(image, "n_frames", 1)
        if entry is not None and entry.frames != frames:
            entry.frames = frames
        self.image_changed.emit(self.key)

    def set_frame(self, frame: int) -> None:
        """Another frame of the image on screen."""
        if self.image is None:
            return
        self.frame = min(max(int(frame), 0), getattr(self.image, "n_frames", 1) - 1)
        self.frame_changed.emit(self.frame)

    @property
    def pixels(self) -> Any:
        """The frame on screen in display space (float32 [0, 1]), or None."""
        return None if self.image is None else self.image.frame(self.frame)

    @property
    def result(self) -> Any:
        """The ``AnalysisResult`` of the image and frame on screen, or None."""
        return self.result_for(self.key, self.frame)

    def result_for(self, key: str | None, frame: int = 0) -> Any:
        """A kept result (with arrays) of ``key`` at ``frame``, or None."""
        return self._results.get((key, frame)) if key is not None else None

    # -- the model -----------------------------------------------------------------

    def load_model(self, path: str | os.PathLike[str], device: str = "cpu",
                   compile: bool = False) -> ModelDescription:
        """Use the model file ``path`` from now on: described from its header (raises
        ``ModelDescriptionError`` and keeps the current model if it is not a model), served
        by a new analysis service whose worker loads the weights in the background
        (``model_ready`` then, or ``model_failed`` with the reason). Scores so far are
        cleared: they belong to the previous model."""
        description = describe_model_file(path, device)
        service = AnalysisService(ModelSpec(str(path), device=device, threads=1,
                                            compile=compile),
                                  workers=1, job_timeout=self.job_timeout)
        self._set_service(service, description)
        threading.Thread(target=self._start, args=(service,), daemon=True,
                         name="squid-analysis-service-start").start()
        return description

    def use_scorer(self, scorer: Any, description: ModelDescription | None = None) -> None:
        """Analyse with a scorer object in a thread of this process (tests' scripted
        scorer, embedding programs) instead of a model file."""
        service = InProcessService(scorer)
        self._set_service(service, description or describe_scorer(scorer))
        service.start()
        self.model_ready.emit(self.model)

    def clear_model(self) -> None:
        """No model: the service stops, scores are cleared."""
        self._set_service(None, None)

    @property
    def has_model(self) -> bool:
        """Whether images can be analysed (a model or scorer is set)."""
        return self._service is not None

    @property
    def service(self) -> Any:
        """The analysis service in use (``AnalysisService`` or ``InProcessService``), or
        None: its ``model_info``, ``spec`` and events, for diagnostics and tests."""
        return self._service

    @property
    def worker_pid(self) -> int | None:
        """The process id of the analysis worker (None: none, or in this process)."""
        info = getattr(self._service, "model_info", None) or {}
        return info.get("pid")

    def _set_service(self, service: Any, description: ModelDescription | None) -> None:
        self._abandon_run()
        old, self._service = self._service, service
        if old is not None:  # stopping waits for the image in progress: not here
            threading.Thread(target=old.stop, args=(5.0,), daemon=True,
                             name="squid-analysis-service-stop").start()
        if service is not None:
            self._connect(service)
        self.model = description
        self.operating_point = None if description is None else \
            description.default_operating_point
        self.catalog.clear_scores()
        self._results.clear()
        self.model_changed.emit(description)

    def _connect(self, service: Any) -> None:
        def hand(handler: Callable[..., None]) -> Callable[..., None]:
            return lambda *args: self._deliver(lambda: handler(service, *args))

        service.finished.connect(hand(self._on_outcome))
        service.failed.connect(hand(self._on_outcome))
        service.cancelled.connect(hand(self._on_cancelled))
        service.compiled.connect(hand(self._on_compiled))

    def _start(self, service: AnalysisService) -> None:
        try:
            service.start()
        except ServiceError as exc:
            message = str(exc)
            self._deliver(lambda: self._on_service_failed(service, message))
            return
        self._deliver(lambda: self._on_service_ready(service))

    def _on_service_ready(self, service: Any) -> None:
        if service is not self._service or self.model is None:
            return
        device = service.model_info.get("device")
        if device:
            self.model = self.model.with_device(device)
        self.model_ready.emit(self.model)

    def _on_service_failed(self, service: Any, message: str) -> None:
        if service is not self._service:
            return
        keys = list(self._outstanding)
        self._service, self.model, self.operating_point = None, None, None
        threading.Thread(target=service.stop, args=(0.5,), daemon=True).start()
        self.model_failed.emit(message)
        self.model_changed.emit(None)
        for key in keys:
            self.analysis_failed.emit(key, f"no analysis: {message}", False)
        if keys:
            self._finish_run(False)

    def _on_compiled(self, service: Any, compiled: bool, why_not: Any) -> None:
        if service is not self._service or self.model is None:
            return
        self.model = dataclasses.replace(self.model, compiled=bool(compiled),
                                         compile_error=None if compiled else why_not)
        self.model_compiled.emit(bool(compiled), why_not)

    # -- operating point ---------------------------------------------------------

    def set_operating_point(self, name: str) -> OperatingPoint:
        """Flag at the model's stored point ``name`` from now on: every score so far is
        re-flagged (nothing is analysed again). Raises KeyError for an unknown name."""
        points = self.model.operating_points if self.model is not None else ()
        op = point_named(points, name)
        self.operating_point = op
        self.catalog.set_summaries({
            key: entry.summary.at(op)
            for key, entry in self.catalog.entries.items() if entry.summary is not None})
        for cache_key, result in list(self._results.items()):
            self._results[cache_key] = self._at_operating_point(result)
        self.operating_point_changed.emit(op)
        return op

    def _at_operating_point(self, result: Any) -> Any:
        if self.operating_point is None or not hasattr(result, "at"):
            return result
        return result.at(self.operating_point)

    # -- analysis ----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a run is in progress."""
        return bool(self._outstanding)

    def analyse_current(self, force: bool = False) -> bool:
        """Analyse the image and frame on screen first (``force``: although not
        applicable); False when there is no model or no image."""
        if self._service is None or self.key is None or self.image is None:
            return False
        self.analyse([(self.key, self.frame, force)], visible=True)
        return True

    def analyse_all(self) -> int:
        """Analyse every image not yet scored, the one on screen first; returns how many
        were queued."""
        current = self.key if self.image is not None else None
        jobs = [(e.key, self.frame if e.key == current else 0, False)
                for e in self.catalog.unscored()]
        if jobs and self._service is not None:
            self.analyse(jobs, first=current)
        return len(jobs) if self._service is not None else 0

    def analyse(self, jobs: Sequence[tuple[str, int, bool]], *, visible: bool = False,
                first: str | None = None) -> None:
        """Analyse ``(key, frame, force)`` jobs; the key is the file's path.

        ``visible``: these are on screen and go before everything queued; ``first``: the
        key among ``jobs`` that is on screen. Jobs join a run in progress (a key already
        queued is re-prioritised).
        """
        if self._service is None:
            for key, _, _ in jobs:
                self.analysis_failed.emit(key, "no model loaded", False)
            return
        new_run = not self._outstanding
        if new_run:
            self._done, self._total, self._cancelled = 0, 0, False
        for key, frame, force in sorted(jobs, key=lambda job: job[0] != first):
            priority = PRIORITY_VISIBLE if visible or key == first else PRIORITY_BACKGROUND
            self._frames[key] = frame
            if key not in self._outstanding:
                self._outstanding.add(key)
                self._total += 1
            self._service.submit(Job(key, key, priority=priority, frame=frame, force=force))
        if new_run:
            self.run_started.emit(self._total)
        else:
            self.run_progress.emit(self._done, self._total)

    def cancel(self) -> None:
        """Withdraw every queued image; the one being analysed is discarded."""
        if self._service is not None and self._outstanding:
            self._cancelled = True
            self._service.cancel_all()

    def close(self, timeout: float = 10.0) -> None:
        """End the analysis (the service's worker); waits up to ``timeout`` s."""
        service, self._service = self._service, None
        if service is not None:
            service.cancel_all()
            service.stop(timeout)
        self._outstanding.clear()

    def _abandon_run(self) -> None:
        """Another model: the run ends now (cancelled); the old service's outcomes are
        ignored."""
        self.cancel()
        if self._outstanding:
            self._finish_run(True)

    def _on_cancelled(self, service: Any, key: str) -> None:
        if service is self._service:
            self._account(key)

    def _on_outcome(self, service: Any, outcome: JobOutcome) -> None:
        if service is not self._service:
            return  # a previous model's service: its outcomes no longer count
        frame = self._frames.get(outcome.key, 0)
        if outcome.ok and outcome.result is not None:
            self._add_result(outcome.key, frame, outcome.result)
        else:
            reason = outcome.reason or "the image could not be analysed"
            unreadable = reason.startswith(_UNREADABLE)
            message = reason.removeprefix(_UNREADABLE)
            if unreadable and outcome.key in self.catalog.entries:
                self.catalog.reject(outcome.key, message)
            self.analysis_failed.emit(outcome.key, message, unreadable)
        self._account(outcome.key)

    def _add_result(self, key: str, frame: int, result: Any) -> None:
        result = self._at_operating_point(result)
        self._results[(key, frame)] = result
        self._results.move_to_end((key, frame))
        # Evict the least recently added, but never the image on screen: with the image
        # on screen analysed first, a longer run than the cache would push it out.
        shown = (self.key, self.frame)
        while len(self._results) > self.result_cache:
            del self._results[next(k for k in self._results if k != shown)]
        self.catalog.set_summary(key, ResultSummary.from_result(result, frame))
        self.result_ready.emit(key, frame, result)

    def _account(self, key: str) -> None:
        if key not in self._outstanding:
            return
        self._outstanding.discard(key)
        self._done += 1
        self.run_progress.emit(self._done, self._total)
        if not self._outstanding:
            self._finish_run(self._cancelled)

    def _finish_run(self, cancelled: bool) -> None:
        self._outstanding.clear()
        self._frames.clear()
        self._cancelled = False
        self.run_finished.emit(cancelled)
