"""Read images in helper processes, so that decoding never stalls the interface.

Some decoders (pylibjpeg's OpenJPEG, used for JPEG 2000) hold Python's GIL for the whole
decode: a 4 MB chest CR keeps every other Python thread, the GUI thread included, waiting
for about a second. Decoding in a separate process avoids that, and a decoder that
crashes the process on a hostile file takes only the helper down: the file is reported
as unreadable and a new helper starts.

Two readers are shared by the whole program: :data:`READER` for the images the user
opens and :data:`BATCH_READER`, at a lower priority, for "Analyse all". They start on
first use (the viewer calls :meth:`ImageReader.warm_up` when its main window opens, so
the first file does not pay the start-up) and stop at exit. No Qt here: the helpers
import only ``squid_core.io`` and ``squid_core.display``.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: Helper processes per reader.
WORKERS = 1
#: Niceness of the helpers that read for "Analyse all" (background work).
BACKGROUND_NICE = 5


def _warm(nice: int = 0) -> None:
    """Initializer of a helper: set its priority, import the reader and decoders once.

    Reading for "Analyse all" is background work: at a lower priority those helpers
    yield the CPU to the interface on a busy machine (they have their own GIL, so
    nothing waits on them but the image they decode). The image the user opened is
    read at normal priority.
    """
    if nice:
        try:
            os.nice(nice)
        except (AttributeError, OSError):
            pass
    import squid_core.io  # noqa: F401 - imported for its side effect of loading

    for plugin in ("openjpeg", "libjpeg", "jpeg_ls", "pylibjpeg"):
        try:
            __import__(plugin)
        except ImportError:
            pass


def _ready() -> int:
    """A no-op task that makes the pool start its processes."""
    return os.getpid()


def _read(path: str) -> Any:
    """Read one image (runs in a helper process)."""
    from squid_core.io import read_image

    return read_image(path)


def _read_prepared(path: str) -> tuple[Any, Any]:
    """Read one image and prepare its first frame for display (in a helper process)."""
    from squid_core.display.prepared_frame import prepare_frame

    image = _read(path)
    return image, prepare_frame(image, 0)


class ImageReader:
    """``read(path)`` returns an ``ImageData`` decoded in a helper process.

    Blocking: call it from a worker thread (it waits without holding the GIL).
    Raises ``squid_core.io.ImageReadError`` as ``read_image`` does, also when the
    helper crashed on the file.
    """

    def __init__(self, workers: int = WORKERS, nice: int = 0) -> None:
        self._workers = workers
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._worked = False
        self._in_process = False

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_warm, initargs=(self._nice,))
            return self._pool

    def warm_up(self) -> None:
        """Start the helpers now (non-blocking)."""
        pool = self._get_pool()
        for _ in range(self._workers):
            pool.submit(_ready)

    def read(self, path: str | os.PathLike[str]) -> Any:
        """Decode ``path`` in a helper process and return its ``ImageData``.

        If helpers cannot be started at all on this system (the pool breaks before any
        read succeeded), reading falls back to the calling thread for good.
        """
        return self._call(_read, path)

    def read_prepared(self, path: str | os.PathLike[str]) -> tuple[Any, Any]:
        """(``ImageData``, :class:`~squid_core.display.PreparedFrame` of frame 0), both
        computed in a helper process so the GUI process only receives the arrays."""
        return self._call(_read_prepared, path)

    def _call(self, func: Any, path: str | os.PathLike[str]) -> Any:
        if self._in_process:
            return func(str(path))
        try:
            out = self._get_pool().submit(func, str(path)).result()
        except BrokenProcessPool:
            self._reset()
            if not self._worked:
                self._in_process = True
                return func(str(path))
            from squid_core.io import ImageReadError

            raise ImageReadError("the image decoder crashed on this file", path) from None
        self._worked = True
        return out

    def _reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop the helpers (at exit)."""
        self._reset()


#: The reader for images the user opens, shared by the whole program.
READER = ImageReader()
#: The reader for "Analyse all", at a lower priority.
BATCH_READER = ImageReader(nice=BACKGROUND_NICE)
atexit.register(READER.shutdown)
atexit.register(BATCH_READER.shutdown)
