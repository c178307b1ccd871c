"""Runs ``python -m squid_core.training.worker_process`` in a QProcess and relays its events.

Training lives in its own process so that a crash there (out of memory, a bad
driver, a killed process) cannot take the viewer down. The worker writes one JSON
object per line on stdout; this class reads them as they arrive (Qt signals, never
a blocking read on the GUI thread) and emits :attr:`TrainingProcess.event` for
each. Commands (``pause``, ``resume``, ``cancel``) go to the worker's stdin.

If the process ends without a ``finished`` event (crash, kill, non-zero exit),
:attr:`TrainingProcess.failed` carries a message with the exit reason and the tail
of the worker's stderr, so the wizard can show what went wrong.
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

#: The folder that holds the ``squid_core`` package, put on the worker's PYTHONPATH.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_STDERR_TAIL_LINES = 20


class TrainingProcess(QObject):
    """One worker process at a time: start it with a job, follow its events, command it."""

    #: Every JSON event of the worker, as a dict with at least ``"event"``.
    event = Signal(dict)
    #: The worker ended without reporting ``finished``; the message says why.
    failed = Signal(str)
    #: The process is gone (after ``finished`` or ``failed``); argument: exit code.
    stopped = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._terminal_seen = False
        self._killed_by_user = False

    # ----------------------------------------------------------------- control
    def start(self, job: dict[str, Any], job_path: Path) -> None:
        """Write ``job`` to ``job_path`` and start a worker on it."""
        if self.is_running():
            raise RuntimeError("a training process is already running")
        job_path.parent.mkdir(parents=True, exist_ok=True)
        job_path.write_text(json.dumps(job, indent=2), encoding="utf-8")
        self._buffer = b""
        self._stderr.clear()
        self._terminal_seen = False
        self._killed_by_user = False
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        paths = [str(_PROJECT_ROOT)] + [p for p in [env.value("PYTHONPATH")] if p]
        env.insert("PYTHONPATH", os.pathsep.join(paths))
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        proc.start(sys.executable, ["-m", "squid_core.training.worker_process", str(job_path)])

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def pid(self) -> int:
        """The worker's process id (0 when not running)."""
        return int(self._proc.processId()) if self.is_running() and self._proc else 0

    def send(self, command: str) -> None:
        """Send ``pause``, ``resume`` or ``cancel`` to the worker."""
        if command not in ("pause", "resume", "cancel"):
            raise ValueError(f"unknown command {command!r}")
        if self.is_running() and self._proc is not None:
            self._proc.write(f"{command}\n".encode())

    def kill(self) -> None:
        """End the worker at once (no checkpoint is written; the last one stays)."""
        if self.is_running() and self._proc is not None:
            self._killed_by_user = True
            self._proc.kill()

    def shutdown(self, wait_ms: int = 3000) -> None:
        """Ask the worker to cancel, wait a little, then kill it: for closing the wizard."""
        if not self.is_running() or self._proc is None:
            return
        self.send("cancel")
        self._proc.closeWriteChannel()
        if not self._proc.waitForFinished(wait_ms):
            self.kill()
            self._proc.waitForFinished(1000)

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # ---------------------------------------------------------------- reading
    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._buffer += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._dispatch(raw)

    def _dispatch(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return
        try:
            ev = json.loads(text)
        except json.JSONDecodeError:
            self._stderr.append(text)  # stray output: keep it for error reports
            return
        if not isinstance(ev, dict) or "event" not in ev:
            return
        if ev["event"] in ("finished", "error"):
            self._terminal_seen = True
        self.event.emit(ev)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._buffer:
            self._dispatch(self._buffer)
            self._buffer = b""
        self._read_stderr()
        if not self._terminal_seen:
            if self._killed_by_user or status == QProcess.ExitStatus.CrashExit:
                why = "The training process was killed or crashed"
            else:
                why = f"The training process exited with code {code}"
            tail = self.stderr_tail()
            self.failed.emit(f"{why}. The viewer is unaffected; the last epoch checkpoint "
                             f"is kept." + (f"\n\n{tail}" if tail else ""))
        self.stopped.emit(int(code))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._terminal_seen = True
            self.failed.emit(f"The training process could not start ({sys.executable}).")
            self.stopped.emit(-1)
