"""The viewer's built-in Storage SCP: studies sent to the viewer appear in the browser, scored.

Off by default. A :class:`~squid_core.net.storage_scp.StorageSCP` files what arrives
under ``<data dir>/pacs/received`` (size and UID checks, atomic writes, only the
allowed calling AE titles; with DICOM TLS when the settings say so); each filed
instance is handed to the GUI thread by a queued signal, collected for a moment (a
study arrives as a burst), then opened with the window's ``open_paths`` and analysed
with "Analyse all" (which scores whatever is not scored yet), so received images go
into the browser and the worklist as they arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from squid_core.library import default_data_dir
from squid_core.net.instance_store import InstanceStore
from squid_core.net.storage_scp import ReceivedInstance, StorageSCP
from squid_core.net.tls import TlsFiles

#: How long to collect arriving instances before opening them (ms).
BATCH_MS = 300


def received_folder() -> Path:
    """Where the built-in SCP files what it receives: ``<data dir>/pacs/received``."""
    return default_data_dir() / "pacs" / "received"


class Receiver(QObject):
    """Starts and stops the built-in SCP and feeds what arrives to the window.

    Signals: ``arrived(str)`` (a path, on the GUI thread), ``opened(int)`` (how many were
    handed to the browser in one batch).
    """

    arrived = Signal(str)
    opened = Signal(int)

    def __init__(self, window: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self.scp: StorageSCP | None = None
        self._pending: list[str] = []
        self._analyse_after_scan = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(BATCH_MS)
        self._timer.timeout.connect(self._flush)
        self.arrived.connect(self._on_arrived)  # queued: emitted in the SCP's threads
        window.scanFinished.connect(self._on_scanned)

    @property
    def running(self) -> bool:
        """Whether the SCP is listening."""
        return self.scp is not None

    def start(self, ae_title: str, port: int, allowed_aets: Sequence[str],
              tls: TlsFiles | None = None) -> int:
        """Listen on ``port`` as ``ae_title`` for the ``allowed_aets`` only (with DICOM TLS
        when ``tls`` is given); returns the port. ValueError (bad or no AE titles, a TLS
        file missing or unreadable) or OSError (port in use) say why not."""
        self.stop()
        allowed = [a for a in allowed_aets if a.strip()]
        if not allowed:
            raise ValueError("name at least one calling AE title allowed to send to the viewer")
        scp = StorageSCP(ae_title, port, InstanceStore(received_folder()),
                         self._on_received, allowed_aets=allowed, tls=tls)
        scp.start()
        self.scp = scp
        return scp.port

    def stop(self) -> None:
        """Stop listening (instances already filed stay)."""
        if self.scp is not None:
            self.scp.stop()
            self.scp = None

    def _on_received(self, inst: ReceivedInstance) -> None:  # an association's thread
        self.arrived.emit(str(inst.path))

    def _on_arrived(self, path: str) -> None:
        if path not in self._pending:
            self._pending.append(path)
        self._timer.start()

    def _flush(self) -> None:
        paths, self._pending = self._pending, []
        if not paths:
            return
        self._analyse_after_scan = True
        self.window_.open_paths(paths, select_first=self.window_.session.image is None)
        self.opened.emit(len(paths))

    def _on_scanned(self, _count: int) -> None:
        if self._analyse_after_scan:
            self._analyse_after_scan = False
            if self.window_.session.has_model:
                self.window_.analyse_all()
