"""Reading the image to show: decoded and prepared in the reader helper process, off the
GUI thread, with the last few kept; only the image asked for last is shown."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QObject, Signal

from squid_core.display import PreparedFrame
from squid_core.io.reader_pool import READER

#: How many read images (with their prepared first frame) are kept.
KEPT = 3


def _read_and_prepare(path: str) -> tuple[Any, PreparedFrame]:
    """Read an image and prepare its first frame for display (in a helper process)."""
    return READER.read_prepared(path)


class ImageLoader(QObject):
    """``request(key)`` reads the file ``key`` in ``tasks`` (a TaskRunner).

    Signals: ``loaded(key, ImageData, PreparedFrame)`` for the image asked for last (at
    once when it is kept); ``failed(key, reason)`` for any image that cannot be read.
    """

    loaded = Signal(str, object, object)
    failed = Signal(str, str)

    def __init__(self, tasks: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        #: The key asked for last (None after ``forget``).
        self.wanted: str | None = None
        self._kept: OrderedDict[str, tuple[Any, PreparedFrame]] = OrderedDict()
        READER.warm_up()  # the helper process starts now, not at the first image

    def request(self, key: str) -> bool:
        """Show ``key`` next; True when it is kept (``loaded`` was emitted already)."""
        self.wanted = key
        kept = self._kept.get(key)
        if kept is not None:
            self._on_read(key, kept)
            return True
        self.tasks.run(_read_and_prepare, key,
                       on_result=lambda read, k=key: self._on_read(k, read),
                       on_error=lambda exc, k=key: self._on_error(k, exc))
        return False

    def forget(self) -> None:
        """Drop the kept images and the request."""
        self._kept.clear()
        self.wanted = None

    def _on_read(self, key: str, read: tuple[Any, PreparedFrame]) -> None:
        self._kept[key] = read
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        if key == self.wanted:
            self.loaded.emit(key, *read)

    def _on_error(self, key: str, exc: BaseException) -> None:
        self.failed.emit(key, getattr(exc, "reason", None) or str(exc) or type(exc).__name__)
