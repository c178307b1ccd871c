"""The one exception raised for input that cannot be shown as an image.

Every reader in :mod:`squid_core.io` maps whatever goes wrong (a missing decoder,
a corrupt or truncated stream, a non-image DICOM object, an absurd declared
size, an unreadable path) to :class:`ImageReadError`, so callers such as the
viewer and the trainer need a single ``except`` clause. ``str(error)`` is meant
to be shown to the user as is: it names the file and says what to do or why the
file cannot be opened, e.g. ``"JPEG 2000 decoder missing: install
pylibjpeg-openjpeg"`` or ``"not an image: RT Plan"``.
"""

from __future__ import annotations

from pathlib import Path


class ImageReadError(Exception):
    """Input that cannot be read as an image; the message is meant for the user.

    Attributes:
        reason: the user-facing explanation without the file name.
        path: the file concerned, or None when unknown.
    """

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = str(reason)
        self.path = Path(path) if path is not None else None
        message = f"{self.path.name}: {self.reason}" if self.path is not None else self.reason
        super().__init__(message)

    def __reduce__(self):  # keep the exception picklable for worker processes
        return (type(self), (self.reason, self.path))
