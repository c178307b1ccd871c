"""A thread-safe priority queue of :class:`Job` with cancel, keyed by ``Job.key``."""

from __future__ import annotations

import heapq
import itertools
import threading

from squid_core.service.jobs import Job


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
