"""The one exception of the networking layer."""

from __future__ import annotations


class NetworkError(OSError):
    """A DICOM network operation failed; ``str(e)`` says which peer, what and why.

    ``transient`` is True when trying again may succeed (no answer, a timeout, an
    aborted association, a busy peer), False when it cannot (a permanent reject,
    a refused query).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    def __str__(self) -> str:
        return str(self.args[0])
