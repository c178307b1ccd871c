"""``AnalysisService``: a priority queue of images served by worker processes, with events.

The service owns the queue and one dispatcher thread per worker process. Each
dispatcher takes the next job, hands it to its worker and waits for the outcome, while
watching the worker: if it dies (a crashing decoder) or overruns ``job_timeout``, the
image is reported as an error and a fresh worker is started for the next job. Events
(psygnal signals, emitted from the dispatcher threads; a GUI connects with
``thread=`` or queues them onto its own thread):

* ``started(key)``: a worker took the job;
* ``finished(JobOutcome)``: the image was analysed (status "scored" or a status the
  scorer passed through);
* ``failed(JobOutcome)``: it could not be (status "error", ``reason`` says why);
* ``cancelled(key)``: it was cancelled before its outcome was delivered.
* ``compiled(compiled, why_not)``: a worker's background compilation ended (only with
  ``ModelSpec.compile``; each new worker compiles again).

A job's outcome is delivered exactly once by one of those events (or it is cancelled);
jobs still queued when the service stops are dropped: a durable client (the node)
keeps its own record of what is done and resubmits the rest on the next start.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from typing import Any

from psygnal import Signal

from squid_core.service.job_queue import JobControl
from squid_core.service.jobs import Job, JobOutcome
from squid_core.service.worker import ModelSpec, worker_main

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """The service cannot run (e.g. the model cannot be loaded); ``str(e)`` says why."""


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, spec: ModelSpec, nice: int, start_timeout: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, spec, nice),
                                   name="squid-analysis-worker", daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(start_timeout):
            self.kill()
            raise ServiceError(f"the analysis worker did not start within {start_timeout:.0f} s")
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise ServiceError("the analysis worker stopped while loading the model") from None
        if kind != "ready":
            self.kill()
            raise ServiceError(str(payload))
        self.info: dict[str, Any] = payload

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def close(self, timeout: float) -> None:
        """Ask the worker to exit; kill it if it has not after ``timeout`` seconds."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout)
        self.kill()


class AnalysisService(JobControl):
    """Analyse images in ``workers`` processes, each holding the model of ``spec``.

    ``start()`` starts the workers and waits until each has loaded the model (raises
    :class:`ServiceError` with the reason if it cannot). ``submit`` queues a job,
    ``cancel``/``cancel_all`` withdraw jobs, ``stop`` ends the workers.
    """

    started = Signal(str)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal(str)
    compiled = Signal(bool, object)

    def __init__(self, spec: ModelSpec, *, workers: int = 1, job_timeout: float = 300.0,
                 start_timeout: float = 300.0, nice: int = 0) -> None:
        self.spec = spec
        self.n_workers = max(1, int(workers))
        self.job_timeout = float(job_timeout)
        self.start_timeout = float(start_timeout)
        self.nice = int(nice)
        super().__init__()
        self.model_info: dict[str, Any] = {}
        self._stop_deadline = float("inf")
        self._threads: list[threading.Thread] = []
        self._workers: list[_Worker | None] = []

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        """Start the workers (each loads the model) and their dispatcher threads."""
        try:
            for _ in range(self.n_workers):
                self._workers.append(_Worker(self.spec, self.nice, self.start_timeout))
        except ServiceError:
            for w in self._workers:
                if w is not None:
                    w.kill()
            self._workers.clear()
            raise
        self.model_info = dict(self._workers[0].info)
        for i in range(self.n_workers):
            t = threading.Thread(target=self._dispatch, args=(i,), daemon=True,
                                 name=f"squid-analysis-dispatch-{i}")
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Drop queued jobs, let running ones finish for up to ``timeout`` s, end the workers."""
        self._stop_deadline = time.monotonic() + timeout
        self._stop.set()
        self.queue.close()
        self.queue.clear()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))
        for w in self._workers:
            if w is not None:
                w.close(max(0.5, end - time.monotonic()))
        self._workers.clear()
        self._threads.clear()

    def __enter__(self) -> AnalysisService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, index: int) -> None:
        while not self._stop.is_set():
            job = self.queue.get(timeout=0.2)
            if job is None:
                self._read_reports(index)
                continue
            self._begin(job)
            try:
                self.started.emit(job.key)
            except Exception:
                log.exception("a handler of the analysis service's events failed")
            self._end(job, self._run(index, job))

    def _run(self, index: int, job: Job) -> JobOutcome | None:
        """The outcome of ``job`` from worker ``index``; None when stopping interrupted it."""
        worker = self._workers[index]
        try:
            if worker is None or not worker.process.is_alive():
                worker = self._workers[index] = _Worker(self.spec, self.nice, self.start_timeout)
        except ServiceError as exc:
            self._workers[index] = None
            return JobOutcome(job.key, "error", f"no analysis worker: {exc}")
        try:
            worker.conn.send(job)
        except OSError:
            return self._lost(index, job, "the analysis worker could not take the image")
        deadline = time.monotonic() + self.job_timeout
        while True:
            try:  # never wait past the deadline: a 0 s limit times out, whatever the speed
                if worker.conn.poll(max(0.0, min(0.2, deadline - time.monotonic()))):
                    kind, payload = worker.conn.recv()
                    if kind == "outcome":
                        return payload
                    self._report(kind, payload)
                    continue
            except (EOFError, OSError):
                return self._lost(index, job, "the analysis worker stopped unexpectedly "
                                  "while analysing this image")
            if not worker.process.is_alive():
                code = worker.process.exitcode
                return self._lost(index, job, "the analysis worker stopped unexpectedly "
                                  f"(exit code {code}) while analysing this image")
            if time.monotonic() > deadline:
                return self._lost(index, job, f"analysis took longer than {self.job_timeout:g} s")
            if self._stop.is_set() and time.monotonic() > self._stop_deadline:
                worker.kill()  # stopping: the image stays unanalysed (reported as cancelled)
                self._workers[index] = None
                return None

    def _read_reports(self, index: int) -> None:
        """Between jobs: deliver what an idle worker reported (its compilation)."""
        worker = self._workers[index] if index < len(self._workers) else None
        try:
            while worker is not None and worker.conn.poll(0):
                self._report(*worker.conn.recv())
        except (EOFError, OSError, ValueError):
            pass  # a dead (or stopped) worker is noticed, and replaced, at its next job

    def _report(self, kind: str, payload: Any) -> None:
        if kind != "compiled":
            return
        try:
            self.compiled.emit(bool(payload[0]), payload[1])
        except Exception:
            log.exception("a handler of the analysis service's events failed")

    def _lost(self, index: int, job: Job, reason: str) -> JobOutcome:
        """The worker failed on ``job``: kill it (a new one starts for the next job)."""
        worker = self._workers[index]
        if worker is not None:
            worker.kill()
        self._workers[index] = None
        log.warning("analysis of one image failed: %s", reason)
        return JobOutcome(job.key, "error", reason)
