"""How the Qt widgets observe the Qt-free session (:mod:`squid_core.session`).

* :class:`GuiThreadDelivery` is the session's ``deliver`` function in the viewer: the
  analysis service reports on its own threads; the session hands each report to this
  callable, which runs it on the GUI thread (a queued Qt signal), so that the session's
  state changes and its events (and every widget slot they reach) happen there.
* :func:`subscribe` connects a widget's slot to a session or catalog event (psygnal)
  and disconnects it when the widget is destroyed, so that a session that outlives a
  widget never calls into a deleted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


class GuiThreadDelivery(QObject):
    """``deliver(fn)`` from any thread: ``fn()`` runs on the thread this object lives on
    (the GUI thread), in order of delivery."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def __call__(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` for the GUI thread."""
        self._call.emit(fn)

    @staticmethod
    def _run(fn: Callable[[], Any]) -> None:
        fn()


def subscribe(signal: Any, slot: Callable[..., Any], owner: QObject) -> None:
    """Connect ``slot`` to the psygnal ``signal`` while ``owner`` exists."""
    signal.connect(slot)
    owner.destroyed.connect(lambda *_: signal.disconnect(slot, missing_ok=True))
