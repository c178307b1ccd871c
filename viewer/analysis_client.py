"""The viewer as a client of the analysis service: the model runs in a worker process.

:class:`ServiceAnalysisRunner` has the signals of :class:`viewer.workers.AnalysisRunner`
(so the main window handles results the same way), but the images are read and scored
by :class:`squid_core.service.AnalysisService` in a worker process that holds the model.
The GUI thread only receives outcomes: the service's psygnal events arrive on its
dispatcher threads and are handed to the GUI thread through a queued Qt signal.

* The image on screen runs before "Analyse all"'s backlog (``PRIORITY_VISIBLE``); asking
  for an image already queued re-prioritises it.
* ``cancel()`` withdraws every queued job; the image being scored is discarded.
* A worker that crashes on an image reports that image as failed (``itemFailed``) and a
  fresh worker takes the next one.
* ``set_model()`` restarts the service with another model file (in a thread: a worker
  takes seconds to load the model); jobs submitted meanwhile wait in the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from squid_core.service import (
    PRIORITY_BACKGROUND,
    PRIORITY_VISIBLE,
    AnalysisService,
    Job,
    JobOutcome,
    ModelSpec,
    ServiceError,
)

#: Prefix of the worker's reason for an image that could not be decoded.
_UNREADABLE = "unreadable: "


class ServiceAnalysisRunner(QObject):
    """Runs analyses in the analysis service; signals are delivered on the GUI thread.

    Signals (as :class:`viewer.workers.AnalysisRunner`):
        started(total)                   a run began
        resultReady(key, frame, result)  one AnalysisResult
        itemFailed(key, message, unreadable)  one image could not be read or scored
        progress(done, total)            after each image
        finished(cancelled)              the run ended (normally, or cancelled)
        serviceFailed(message)           the service could not start (model not loadable)
        modelCompiled(compiled, why_not) the worker's background compilation ended
    """

    started = Signal(int)
    resultReady = Signal(str, int, object)
    itemFailed = Signal(str, str, bool)
    progress = Signal(int, int)
    finished = Signal(bool)
    serviceFailed = Signal(str)
    modelCompiled = Signal(bool, str)
    # Carries the service's events from its dispatcher threads to the GUI thread.
    _event = Signal(str, object, object)

    def __init__(self, parent: QObject | None = None, *, job_timeout: float = 300.0) -> None:
        super().__init__(parent)
        self.job_timeout = job_timeout
        self._service: AnalysisService | None = None
        self._frames: dict[str, int] = {}  # key -> frame of the job asked last
        self._outstanding: set[str] = set()  # keys of this run without an outcome yet
        self._done = 0
        self._total = 0
        self._cancelled = False
        self._event.connect(self._on_event)

    # -- model ---------------------------------------------------------------------

    @property
    def analysis_service(self) -> AnalysisService | None:
        """The service in use (its events and ``model_info``, e.g. the worker's pid)."""
        return self._service

    @property
    def has_model(self) -> bool:
        """Whether a service (with a model) is set."""
        return self._service is not None

    def set_model(self, path: str, device: str = "cpu", compile: bool = False) -> None:
        """Serve ``path`` from now on: the current service stops, a new one starts.

        Returns at once; the worker loads the model in the background. If it cannot,
        ``serviceFailed`` says why and queued images are reported as failed. With
        ``compile`` the worker compiles the model while it already scores uncompiled;
        ``modelCompiled`` tells how that ended.
        """
        self._abandon_run()
        spec = ModelSpec(path, device=device, threads=1, compile=compile)
        service = AnalysisService(spec, workers=1, job_timeout=self.job_timeout)
        service.finished.connect(lambda o, s=service: self._event.emit("outcome", s, o))
        service.failed.connect(lambda o, s=service: self._event.emit("outcome", s, o))
        service.cancelled.connect(lambda k, s=service: self._event.emit("cancelled", s, k))
        service.compiled.connect(
            lambda ok, why, s=service: self._event.emit("compiled", s, (ok, why or "")))
        self._service = service
        threading.Thread(target=self._start, args=(service,), daemon=True,
                         name="squid-analysis-service-start").start()

    def clear_model(self) -> None:
        """Stop serving (no model loaded)."""
        self._abandon_run()

    def _start(self, service: AnalysisService) -> None:
        try:
            service.start()
        except ServiceError as exc:
            self._event.emit("service_failed", service, str(exc))

    def _abandon_run(self) -> None:
        """Cancel the run and stop the service; the run ends now (cancelled), since
        the old service's last outcomes are ignored."""
        self.cancel()
        self._stop_service()
        if self._outstanding:
            self._finish_run(True)

    def _stop_service(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            # Stopping waits for the image in progress: not on the GUI thread.
            threading.Thread(target=service.stop, args=(5.0,), daemon=True,
                             name="squid-analysis-service-stop").start()

    # -- runs ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a run is in progress."""
        return bool(self._outstanding)

    def analyse(self, jobs: Sequence[tuple[str, int, bool]], *, visible: bool = False,
                first: str | None = None) -> None:
        """Analyse ``(key, frame, force)`` jobs (the key is the file's path).

        ``visible``: these are the image on screen; they go before everything queued.
        ``first``: the key among ``jobs`` that is on screen (submitted first, as visible).
        When a run is in progress the jobs join it (a key already queued is
        re-prioritised).
        """
        if self._service is None:
            for key, _, _ in jobs:
                self.itemFailed.emit(key, "no model loaded", False)
            return
        new_run = not self._outstanding
        if new_run:
            self._done, self._total, self._cancelled = 0, 0, False
        jobs = sorted(jobs, key=lambda job: job[0] != first)  # stable: the rest keep order
        for key, frame, force in jobs:
            priority = PRIORITY_VISIBLE if visible or key == first else PRIORITY_BACKGROUND
            self._frames[key] = frame
            if key not in self._outstanding:
                self._outstanding.add(key)
                self._total += 1
            self._service.submit(Job(key, key, priority=priority, frame=frame, force=force))
        if new_run:
            self.started.emit(self._total)
        else:
            self.progress.emit(self._done, self._total)

    def cancel(self) -> None:
        """Withdraw every queued image; the one being scored is discarded."""
        if self._service is not None and self._outstanding:
            self._cancelled = True
            self._service.cancel_all()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel and end the worker process (for ``closeEvent``); waits up to ``timeout_s``."""
        service, self._service = self._service, None
        if service is not None:
            service.cancel_all()
            service.stop(timeout_s)
        self._outstanding.clear()

    # -- events (GUI thread) -------------------------------------------------------

    def _on_event(self, kind: str, service: Any, payload: Any) -> None:
        if service is not self._service:
            return  # a previous model's service: its outcomes no longer count
        if kind == "service_failed":
            self.serviceFailed.emit(str(payload))
            keys = list(self._outstanding)
            self.stop(0.5)
            for key in keys:
                self.itemFailed.emit(key, f"no analysis: {payload}", False)
            self._finish_run(False)
            return
        if kind == "compiled":
            self.modelCompiled.emit(*payload)
            return
        if kind == "cancelled":
            self._account(str(payload))
            return
        outcome: JobOutcome = payload
        frame = self._frames.get(outcome.key, 0)
        if outcome.ok and outcome.result is not None:
            self.resultReady.emit(outcome.key, frame, outcome.result)
        else:
            reason = outcome.reason or "the image could not be analysed"
            unreadable = reason.startswith(_UNREADABLE)
            self.itemFailed.emit(outcome.key, reason.removeprefix(_UNREADABLE), unreadable)
        self._account(outcome.key)

    def _account(self, key: str) -> None:
        if key not in self._outstanding:
            return
        self._outstanding.discard(key)
        self._done += 1
        self.progress.emit(self._done, self._total)
        if not self._outstanding:
            self._finish_run(self._cancelled)

    def _finish_run(self, cancelled: bool) -> None:
        self._outstanding.clear()
        self._frames.clear()
        self._cancelled = False
        self.finished.emit(cancelled)
