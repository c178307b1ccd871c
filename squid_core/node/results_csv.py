"""``results.csv``: the node's record of every analysed instance, one row each, appended.

The file is the node's memory of what is done: a row is appended (one ``write`` of a
whole line, then fsync) only after the image's outcome is final, and an instance with
a row is never analysed again. A process killed while writing can leave at most a
torn last line; it is cut off when the file is opened, and that instance, having no
row, is analysed again. Columns: sop_instance_uid, study_instance_uid, score, flag
(yes | no | review for a result that is not applicable or outside the model's training
data | empty without an operating point or on error), status ("scored",
"not-applicable", "outside" or "error"), reason,
received_at, analysed_at (UTC, ISO 8601). No patient names or IDs.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from squid_core.scoring.summary import ResultSummary

FIELDS = ("sop_instance_uid", "study_instance_uid", "score", "flag", "status", "reason",
          "received_at", "analysed_at")


@dataclass(frozen=True)
class ResultRow:
    """One line of ``results.csv``."""

    sop_instance_uid: str
    study_instance_uid: str
    score: str
    flag: str
    status: str
    reason: str
    received_at: str
    analysed_at: str

    @classmethod
    def of(cls, sop_instance_uid: str, study_instance_uid: str,
           summary: ResultSummary | None, *, error: str = "", received_at: str = "",
           analysed_at: str = "") -> ResultRow:
        """The row of an analysed instance (its summary), or of one that failed (``error``)."""
        from squid_core.scoring.summary import flag_word

        if summary is None:
            return cls(sop_instance_uid, study_instance_uid, "", "", "error", error,
                       received_at, analysed_at)
        score = "" if summary.score is None else f"{summary.score:.4f}"
        return cls(sop_instance_uid, study_instance_uid, score, flag_word(summary),
                   summary.status, summary.status_reason, received_at, analysed_at)


def _line(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode("utf-8")


class ResultsCsv:
    """Append-only ``results.csv`` with the set of instances it already holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._done: dict[str, str] = {}
        self._repair_and_load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size == 0:
            self._write(_line(list(FIELDS)))

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last line from a killed process
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:end]
        reader = csv.DictReader(io.StringIO(data.decode("utf-8", errors="replace")))
        for row in reader:
            uid = row.get("sop_instance_uid") or ""
            if uid:
                self._done[uid] = row.get("status") or ""

    def _write(self, line: bytes) -> None:
        """One whole line or nothing: a failed write (a full disk) is cut off again."""
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "No space left on device")
            os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, size)
            except OSError:
                pass  # the torn line is cut off when the file is next opened
            raise

    def append(self, row: ResultRow) -> bool:
        """Append ``row`` unless its instance already has one; True when appended."""
        with self._lock:
            if row.sop_instance_uid in self._done:
                return False
            values = asdict(row)
            self._write(_line([str(values[f]) for f in FIELDS]))
            self._done[row.sop_instance_uid] = row.status
            return True

    def __contains__(self, sop_instance_uid: str) -> bool:
        with self._lock:
            return sop_instance_uid in self._done

    def __len__(self) -> int:
        with self._lock:
            return len(self._done)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``results.csv`` (for tests, benchmarks and scripts)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
