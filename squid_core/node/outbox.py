"""The node's outbox: result files waiting to be sent, and the thread that sends them.

``<root>/<SOP Instance UID>/`` holds the Secondary Capture and the SR of one analysed
instance, written by the analysis worker (both or neither). The sender sends only the
entries whose instance is committed (has its row in ``results.csv``), deletes each
file once the peer accepted it, and keeps the others for the next try: when the peer
is down it tries again after 2, 4, 8 ... seconds (at most ``max_delay``), and entries
left when the node stops are sent after the next start. A file the peer refuses
outright is moved to ``<root>/../unsent/`` and the log says why.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from squid_core.net.errors import NetworkError
from squid_core.net.storage_scp import uid_ref

log = logging.getLogger(__name__)

#: ``send(files)`` returns the refused files with a reason ({} when all were accepted).
SendFn = Callable[[Sequence[Path]], dict[Path, str]]


class Outbox:
    """Folders of result files, one per analysed instance."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.unsent = self.root.parent / "unsent"
        for leftover in self.root.glob("*/.*.tmp"):  # a worker killed while writing
            leftover.unlink(missing_ok=True)

    def folder_for(self, uid: str) -> Path:
        return self.root / uid

    def entries(self) -> list[str]:
        """UIDs with result files waiting, oldest first."""
        found = [p for p in self.root.iterdir() if p.is_dir() and any(p.glob("*.dcm"))]
        return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime_ns)]

    def files(self, uid: str) -> list[Path]:
        return sorted(self.folder_for(uid).glob("*.dcm"))

    def done(self, path: Path) -> None:
        """``path`` was accepted: delete it (and its folder once empty)."""
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass

    def refuse(self, path: Path) -> Path:
        """Move a refused file out of the outbox, to ``unsent/<uid>/``."""
        target = self.unsent / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
        self.done(path)
        return target


class ResultSender:
    """Sends committed outbox entries with ``send``, retrying while the peer is away."""

    def __init__(self, outbox: Outbox, send: SendFn, committed: Callable[[str], bool],
                 destination: str, *, retry_delay: float = 2.0, max_delay: float = 60.0) -> None:
        self.outbox = outbox
        self.send = send
        self.committed = committed
        self.destination = destination
        self.retry_delay = float(retry_delay)
        self.max_delay = float(max_delay)
        self.sent = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="squid-result-sender",
                                        daemon=True)
        self._thread.start()
        self.notify()

    def notify(self) -> None:
        """New entries are committed: look at the outbox now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def pending(self) -> int:
        return sum(1 for uid in self.outbox.entries() if self.committed(uid))

    def _run(self) -> None:
        delay = self.retry_delay
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            try:
                self._send_committed()
                delay = self.retry_delay
            except NetworkError as exc:
                log.warning("sending results to %s failed: %s; trying again in %g s",
                            self.destination, exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.max_delay)
                self._wake.set()
            except Exception as exc:  # a damaged outbox file: report it, keep running
                log.error("sending results to %s failed: %s", self.destination, exc)

    def _send_committed(self) -> None:
        for uid in self.outbox.entries():
            if self._stop.is_set():
                return
            if not self.committed(uid):
                continue
            files = self.outbox.files(uid)
            if not files:
                continue
            refused = self.send(files)
            for path in files:
                if path in refused:
                    kept = self.outbox.refuse(path)
                    log.warning("%s refused the result %s of instance %s (%s); kept in %s",
                                self.destination, path.name, uid_ref(uid), refused[path],
                                kept.parent)
                else:
                    self.outbox.done(path)
            self.sent += 1
            log.info("results of instance %s sent to %s", uid_ref(uid), self.destination)


def dimse_sender(client: Any, node: Any) -> SendFn:
    """``send`` for a DIMSE peer (C-STORE)."""
    def send(files: Sequence[Path]) -> dict[Path, str]:
        return dict(client.store(node, files).refused)
    return send


def dicomweb_sender(client: Any) -> SendFn:
    """``send`` for a DICOMweb service (STOW-RS)."""
    def send(files: Sequence[Path]) -> dict[Path, str]:
        client.store(files)
        return {}
    return send
