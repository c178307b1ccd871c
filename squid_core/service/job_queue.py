"""A thread-safe priority queue of :class:`Job` with cancel, keyed by ``Job.key``."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Any

from squid_core.service.jobs import Job

log = logging.getLogger(__name__)


class JobQueue:
    """Highest priority first, first-in first-out within a priority; one job per key.

    Cancelled jobs are dropped lazily (their heap entries are skipped when reached).
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._jobs: dict[str, Job] = {}
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, job: Job) -> bool:
        """Queue ``job``; a job already queued under its key is re-prioritised instead.

        Returns False when the queue is closed.
        """
        with self._cond:
            if self._closed:
                return False
            self._jobs[job.key] = job
            heapq.heappush(self._heap, (-job.priority, next(self._order), job.key))
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> Job | None:
        """The next job, waiting up to ``timeout`` seconds; None on timeout or when closed."""
        with self._cond:
            while True:
                while self._heap:
                    neg_priority, _, key = heapq.heappop(self._heap)
                    job = self._jobs.get(key)
                    if job is not None and -neg_priority == job.priority:
                        del self._jobs[key]
                        return job
                if self._closed or not self._cond.wait(timeout):
                    return None

    def cancel(self, key: str) -> bool:
        """Remove the queued job ``key``; False when it is not queued."""
        with self._cond:
            return self._jobs.pop(key, None) is not None

    def clear(self) -> list[str]:
        """Remove every queued job; returns their keys."""
        with self._cond:
            keys = list(self._jobs)
            self._jobs.clear()
            self._heap.clear()
            return keys

    def close(self) -> None:
        """Wake every waiting ``get`` and refuse new jobs."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __contains__(self, key: str) -> bool:
        with self._cond:
            return key in self._jobs

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)


class JobControl:
    """``submit``/``cancel``/``cancel_all``/``pending`` of a service: its ``queue``, the
    jobs its threads are running (key -> cancelled?) and its ``cancelled`` event.

    Shared by :class:`~squid_core.service.AnalysisService` (worker processes) and
    :class:`~squid_core.service.in_process.InProcessService` (a thread)."""

    # psygnal signals declared by the service: cancelled(key), finished/failed(JobOutcome)
    cancelled: Any
    finished: Any
    failed: Any

    def __init__(self) -> None:
        self.queue = JobQueue()
        self._running: dict[str, bool] = {}  # key -> cancelled?
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def submit(self, job: Job) -> bool:
        """Queue ``job`` (re-prioritise it if its key is queued). False once stopped."""
        if self._stop.is_set():
            return False
        return self.queue.put(job)

    def cancel(self, key: str) -> bool:
        """Withdraw ``key``: dropped if queued, its outcome discarded if running."""
        with self._lock:
            if key in self._running:
                self._running[key] = True
                return True
        if self.queue.cancel(key):
            self.cancelled.emit(key)
            return True
        return False

    def cancel_all(self) -> None:
        """Withdraw every queued and running job."""
        for key in self.queue.clear():
            self.cancelled.emit(key)
        with self._lock:
            for key in self._running:
                self._running[key] = True

    def pending(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return len(self.queue) + len(self._running)

    def _begin(self, job: Job) -> None:
        with self._lock:
            self._running[job.key] = False

    def _end(self, job: Job, outcome: Any) -> None:
        """The job left its thread with ``outcome`` (None: interrupted): emit its one
        event, ``cancelled`` if it was cancelled meanwhile, else finished or failed."""
        with self._lock:
            was_cancelled = self._running.pop(job.key, False)
        try:
            if was_cancelled or outcome is None:
                self.cancelled.emit(job.key)
            elif outcome.ok:
                self.finished.emit(outcome)
            else:
                self.failed.emit(outcome)
        except Exception:  # a client's handler failed: report it, keep serving
            log.exception("a handler of the analysis service's events failed")
