"""Atomic file output: a temporary file beside the target, fsync, then ``os.replace``.

Every file the product writes that a crash must not leave half-written (model files,
checkpoints, the model library's records, the exports) goes through
:func:`atomic_output` or :func:`write_files_atomically`, so a reader sees either the
old content or the new one, never a partial file. On a full or read-only disk the
temporary file is removed and the target keeps its earlier content;
:class:`FileWriteError` turns the failure into one sentence for the user.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileWriteError", "atomic_output", "find_os_error", "write_files_atomically"]


class FileWriteError(OSError):
    """A file that could not be written; ``str(e)`` names it and says why.

    ``errno`` and ``strerror`` are those of the underlying failure (``ENOSPC`` "No
    space left on device", ``EROFS`` "Read-only file system", ``EACCES`` "Permission
    denied"...), ``filename`` is the target. Build one with :meth:`from_os_error`.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else super().__str__()

    @classmethod
    def from_os_error(cls, path: str | os.PathLike[str], cause: OSError,
                      what: str = "file") -> FileWriteError:
        """``cause`` (raised while writing ``path``) as "cannot write the <what> ...: why"."""
        target = Path(path)
        reason = cause.strerror or str(cause) or type(cause).__name__
        kept = "; the earlier file is unchanged" if target.exists() else ""
        err = cls(f"cannot write the {what} {target}: {reason}{kept}")
        err.errno, err.strerror, err.filename = cause.errno, reason, str(target)
        return err


def find_os_error(exc: BaseException) -> OSError | None:
    """``exc`` itself or the first OSError it was raised from or while handling.

    Some writers (``torch.save``) turn the OSError of a failed write into a
    RuntimeError; the OSError stays in the exception's cause/context chain.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_beside(target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only when the block ends without error.

    On any exception (a full disk, a cancelled write) the temporary file is removed and
    ``path`` keeps its earlier content. Errors are raised as they come (plain OSError).
    """
    target = Path(path)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_files_atomically(contents: Mapping[str | os.PathLike[str], bytes],
                           what: str = "file", mode: int = 0o644) -> None:
    """Write several files so that none is replaced unless all of them could be written.

    Every content goes to its own temporary file first (written, fsynced); only when all
    are on disk are they renamed over their targets. On a failure all temporary files
    are removed, every target keeps its earlier content, and :class:`FileWriteError`
    names the file that failed (as "the <what> <path>") and the reason.
    """
    done: list[tuple[str, Path]] = []
    target = Path()
    try:
        for path, data in contents.items():
            target = Path(path)
            fd, tmp = _temp_beside(target)
            done.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
        for tmp, target in done:
            os.replace(tmp, target)
    except BaseException as exc:
        for tmp, _ in done:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise FileWriteError.from_os_error(target, exc, what) from exc
        raise
    for folder in {t.parent for _, t in done}:
        _fsync_dir(folder)
