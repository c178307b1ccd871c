"""Opening files and folders: ``squid_core.io.scan`` in a worker, with progress and cancel.

The scan's result goes to the session (:meth:`squid_core.session.Session.add_scan`) on
the GUI thread; the window only chooses which image to show first.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class _ScanProgress(QObject):
    """Carries scan progress from the worker thread to the GUI (queued signal)."""

    progress = Signal(int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancelled = False

    def __call__(self, done: int, total: int, _path: Any) -> bool:
        """``squid_core.io.scan`` progress callback; False cancels the scan."""
        if done % 25 == 0 or done == total:
            self.progress.emit(done, total)
        return not self.cancelled


def _scan(paths: list[str], progress: _ScanProgress) -> Any:
    from squid_core.io import scan

    return scan(paths, progress=progress)


class Scans(QObject):
    """Scans running in ``tasks`` (a :class:`~viewer.workers.TaskRunner`).

    Signals: ``progress(done, total)``; ``scanned(result, select_first)`` with the
    ``ScanResult``; ``failed(message)``; ``activeChanged()``
    when a scan starts or ends.
    """

    progress = Signal(int, int)
    scanned = Signal(object, bool)
    failed = Signal(str)
    activeChanged = Signal()

    def __init__(self, tasks: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self._running: set[_ScanProgress] = set()

    @property
    def active(self) -> bool:
        """Whether a scan is running."""
        return bool(self._running)

    def start(self, paths: list[str], select_first: bool = True) -> None:
        """Scan ``paths`` (files, folders, DICOMDIRs) in a worker."""
        progress = _ScanProgress(self)
        progress.progress.connect(self.progress)
        self._running.add(progress)
        self.activeChanged.emit()

        def ended() -> None:
            self._running.discard(progress)
            self.activeChanged.emit()

        def finished(result: Any) -> None:
            ended()
            self.scanned.emit(result, select_first)

        def failed(exc: BaseException) -> None:
            ended()
            self.failed.emit(str(exc))

        self.tasks.run(_scan, paths, progress, on_result=finished, on_error=failed)

    def cancel(self) -> None:
        """Stop every running scan (at its next file)."""
        for progress in self._running:
            progress.cancelled = True
