"""Work off the GUI thread: scanning, reading an image, exports.

Built on superqt's workers (QRunnables on the global thread pool). Results come back to
the GUI thread through Qt signals; the GUI never waits on a worker. :class:`TaskRunner`
runs one-shot functions and keeps a reference to every running worker until it
finishes (a worker that is garbage-collected while running takes its signals with it).
Analysis is not here: the session drives the analysis service
(:class:`squid_core.session.Session`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject
from superqt.utils import FunctionWorker, create_worker


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
