"""``InProcessService``: the analysis service's interface around a scorer object, in a thread.

For a scorer that is not a model file (a test's scripted scorer, an embedding program's
own): jobs go through the same priority queue and the same ``worker.analyse`` (read,
applicability, score) as in a worker process, in one thread of this process, and come
back as the same events, so a client (:class:`squid_core.session.Session`) drives
either service alike. No crash isolation: use :class:`AnalysisService` for model files.
"""

from __future__ import annotations

import threading
from typing import Any

from psygnal import Signal

from squid_core.service.job_queue import JobControl
from squid_core.service.worker import analyse


class InProcessService(JobControl):
    """Analyse with ``scorer`` in one thread; events as :class:`AnalysisService`'s."""

    started = Signal(str)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal(str)
    compiled = Signal(bool, object)

    def __init__(self, scorer: Any) -> None:
        super().__init__()
        self.scorer = scorer
        model = getattr(scorer, "model", None)
        self.model_info: dict[str, Any] = {
            "model_name": str(getattr(model, "name", "scorer")),
            "model_version": str(getattr(model, "version", "")),
            "device": str(getattr(scorer, "device", "cpu")), "pid": None}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the analysing thread."""
        self._thread = threading.Thread(target=self._dispatch, daemon=True,
                                        name="squid-analysis-in-process")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drop queued jobs; wait up to ``timeout`` s for the image in progress."""
        self._stop.set()
        self.queue.close()
        self.queue.clear()
        if self._thread is not None:
            self._thread.join(timeout)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            job = self.queue.get(timeout=0.2)
            if job is None:
                continue
            self._begin(job)
            self.started.emit(job.key)
            self._end(job, analyse(job, self.scorer))
