"""Work off the GUI thread: scanning, reading, model loading and analysis.

Built on superqt's workers (QRunnables on the global thread pool). Results come back to
the GUI thread through Qt signals; the GUI never waits on a worker.

* :class:`TaskRunner` runs one-shot functions (scan, read an image, load a model) and
  keeps a reference to every running worker until it finishes (a worker that is
  garbage-collected while running takes its signals with it).
* :class:`AnalysisRunner` scores images one at a time with a ``Scorer``. A generator
  worker yields after each image, which is where ``cancel()`` takes effect; one image
  that fails is reported and the run goes on. Only one run is active: starting a new
  one cancels the previous.

``stop()`` (called from the main window's ``closeEvent``) cancels what can be cancelled
and waits for the pool, so no thread outlives the window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import FunctionWorker, GeneratorWorker, create_worker

from squid_core.scoring.analysis import analyse, scoring_frame


@dataclass(frozen=True)
class AnalysisJob:
    """One image to score: its key, and either its pixels (with the image's metadata, for
    the applicability check) or a path to read both from. ``force`` analyses it even when
    it is not applicable ("Analyse anyway")."""

    key: str
    frame: int = 0
    pixels: np.ndarray | None = None
    path: str | None = None
    meta: Any = None
    force: bool = False


class TaskRunner(QObject):
    """Runs functions in the thread pool and keeps their workers alive until done."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: set[FunctionWorker] = set()

    @property
    def active(self) -> int:
        """How many tasks are running."""
        return len(self._workers)

    def run(self, func: Callable[..., Any], *args: Any,
            on_result: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None,
            **kwargs: Any) -> FunctionWorker:
        """Call ``func(*args, **kwargs)`` in a worker thread.

        ``on_result(value)`` or ``on_error(exception)`` is then called on the GUI thread.
        """
        # Errors go to on_error (or are dropped); superqt would otherwise re-raise them.
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        self._workers.add(worker)
        if on_result is not None:
            worker.returned.connect(on_result)
        if on_error is not None:
            worker.errored.connect(on_error)
        worker.finished.connect(lambda w=worker: self._workers.discard(w))
        worker.start()
        return worker


class AnalysisRunner(QObject):
    """Scores images with a scorer in a worker thread, one run at a time.

    Signals (all delivered on the GUI thread):
        started(total)                   a run began
        resultReady(key, frame, result)  one AnalysisResult
        itemFailed(key, message, unreadable)  one image could not be read (unreadable=True)
                                         or could not be scored
        progress(done, total)            after each image
        finished(cancelled)              the run ended (normally, or cancelled)
    """

    started = Signal(int)
    resultReady = Signal(str, int, object)
    itemFailed = Signal(str, str, bool)
    progress = Signal(int, int)
    finished = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker: GeneratorWorker | None = None
        self._workers: set[GeneratorWorker] = set()
        self._cancelled = False
        # One scorer is not to be run by two threads at once.
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether a run is in progress."""
        return self._worker is not None

    def analyse(self, scorer: Any, jobs: Sequence[AnalysisJob],
                read: Callable[[str], Any] | None = None) -> None:
        """Score ``jobs`` with ``scorer`` (cancelling any run in progress).

        ``read(path)`` returns an ``ImageData`` for jobs given by path (normally
        ``squid_core.io.read_image``).
        """
        self.cancel()
        jobs = list(jobs)
        worker = create_worker(self._run, scorer, jobs, read, _start_thread=False,
                               _ignore_errors=True)
        self._worker = worker
        self._workers.add(worker)
        self._cancelled = False
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(lambda exc: self.itemFailed.emit("", _message(exc), False))
        worker.finished.connect(lambda w=worker: self._on_finished(w))
        self.started.emit(len(jobs))
        worker.start()

    def cancel(self) -> None:
        """Stop after the image being scored (its result is still delivered)."""
        if self._worker is not None:
            self._cancelled = True
            self._worker.quit()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the worker threads (for ``closeEvent``). True if all ended."""
        self.cancel()
        for worker in list(self._workers):
            worker.quit()
        return QThreadPool.globalInstance().waitForDone(timeout_ms)

    def _run(self, scorer: Any, jobs: list[AnalysisJob],
             read: Callable[[str], Any] | None) -> Iterator[tuple]:
        total = len(jobs)
        for done, job in enumerate(jobs, start=1):
            pixels, meta = job.pixels, job.meta
            if pixels is None:
                try:
                    if read is None or job.path is None:
                        raise ValueError("nothing to score: no pixels and no reader")
                    image = read(job.path)
                    pixels, _ = scoring_frame(image, job.frame)
                    meta = getattr(image, "meta", None)
                except Exception as exc:  # an unreadable file must not end "Analyse all"
                    yield ("failed", job.key, _message(exc), True, done, total)
                    continue
            try:
                with self._lock:
                    result = analyse(scorer, np.asarray(pixels, dtype=np.float32), meta,
                                     force=job.force, frame=job.frame)
            except Exception as exc:  # nor may one image the model cannot take
                yield ("failed", job.key, _message(exc), False, done, total)
                continue
            yield ("result", job.key, job.frame, result, done, total)

    def _on_yielded(self, item: tuple) -> None:
        if item[0] == "result":
            _, key, frame, result, done, total = item
            self.resultReady.emit(key, frame, result)
        else:
            _, key, message, unreadable, done, total = item
            self.itemFailed.emit(key, message, unreadable)
        self.progress.emit(done, total)

    def _on_finished(self, worker: GeneratorWorker) -> None:
        self._workers.discard(worker)
        if worker is self._worker:
            self._worker = None
            self.finished.emit(self._cancelled)


def _message(exc: BaseException) -> str:
    """A one-line message for the user; ImageReadError messages are already meant for them."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__
