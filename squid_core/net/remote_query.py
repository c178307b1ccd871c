"""Query, retrieve from and send to one remote node, DIMSE or DICOMweb, through one API.

What the viewer's PACS pane does, without Qt: a :class:`StudyQuery` (patient name or
ID, a date range, a modality) becomes C-FIND matching keys or QIDO-RS filters; the
answers become :class:`StudyMatch` rows; a study is retrieved into an
:class:`InstanceStore` as the node says (``retrieve``): by C-MOVE to our own Storage SCP
(started for the duration of the move unless one already listens), by C-GET on the
query's own association (the node needs no route back to us), or by WADO-RS; results
are sent by C-STORE or STOW-RS.
Every failure is a :class:`NetworkError` with a sentence for the user.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from squid_core.net.dicomweb import DicomWebClient
from squid_core.net.dimse_client import DimseClient
from squid_core.net.errors import NetworkError
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DicomWebNode, DimseNode, check_ae_title
from squid_core.net.storage_scp import ReceivedInstance, StorageSCP
from squid_core.net.tls import TlsFiles

_DATE = re.compile(r"^\d{8}$")


class _Cancelled(Exception):
    """Raised from a WADO-RS retrieve's progress callback to stop it (not an OSError, so
    the DICOMweb client does not take it for a network failure to retry)."""


@dataclass(frozen=True)
class StudyQuery:
    """What to look for; empty fields match anything. Dates are YYYYMMDD."""

    patient_name: str = ""
    patient_id: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""

    def __post_init__(self) -> None:
        for label, value in (("from", self.date_from), ("to", self.date_to)):
            if value and not _DATE.match(value.strip()):
                raise ValueError(f"date {label} must be YYYYMMDD, not {value!r}")
        if self.date_from and self.date_to and self.date_from.strip() > self.date_to.strip():
            raise ValueError("the date range ends before it starts")

    def _date_range(self) -> str:
        a, b = self.date_from.strip(), self.date_to.strip()
        return "" if not (a or b) else a if a == b else f"{a}-{b}"

    def _name(self) -> str:
        name = self.patient_name.strip()
        return name if not name or "*" in name or "?" in name else f"*{name}*"

    def matching_keys(self) -> dict[str, str]:
        """C-FIND matching keys (DICOM attribute keywords) and QIDO-RS filters alike."""
        keys = {"PatientName": self._name(), "PatientID": self.patient_id.strip(),
                "StudyDate": self._date_range(),
                "ModalitiesInStudy": self.modality.strip().upper()}
        return {k: v for k, v in keys.items() if v}


@dataclass(frozen=True)
class StudyMatch:
    """One study found on a remote node."""

    study_uid: str
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modalities: str = ""
    description: str = ""
    instances: str = ""

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyMatch:
        """From a C-FIND answer."""
        def text(keyword: str) -> str:
            value = ds.get(keyword, "")
            if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                return "/".join(str(v) for v in value)
            return str(value or "")

        return cls(text("StudyInstanceUID"), text("PatientName"), text("PatientID"),
                   text("StudyDate"), text("ModalitiesInStudy"), text("StudyDescription"),
                   text("NumberOfStudyRelatedInstances"))

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StudyMatch:
        """From a QIDO-RS answer (DICOM JSON)."""
        def text(tag: str) -> str:
            values = doc.get(tag, {}).get("Value") or []
            out = []
            for v in values:
                out.append(str(v.get("Alphabetic", "")) if isinstance(v, dict) else str(v))
            return "/".join(out)

        return cls(text("0020000D"), text("00100010"), text("00100020"), text("00080020"),
                   text("00080061"), text("00081030"), text("00201208"))


class RemoteArchive:
    """One remote node seen from the viewer: echo, find studies, retrieve, send.

    ``ae_title``: our AE title (calling, and the C-MOVE destination the node must know);
    ``scp_port``: where our Storage SCP listens for C-MOVE answers; ``scp``: one already
    listening (the viewer's built-in receiver), used instead of starting one per move;
    ``scp_tls``: the TLS files the Storage SCP started for a move listens with.
    """

    def __init__(self, node: DimseNode | DicomWebNode, ae_title: str, *, scp_port: int = 0,
                 scp: StorageSCP | None = None, timeout: float = 15.0,
                 retries: int = 1, scp_tls: TlsFiles | None = None) -> None:
        self.node = node
        self.ae_title = check_ae_title(ae_title)
        self.scp_port = int(scp_port)
        self.scp = scp
        self.scp_tls = scp_tls
        self.timeout = float(timeout)
        self.retries = int(retries)

    def _dimse(self) -> DimseClient:
        return DimseClient(self.ae_title, timeout=self.timeout, retries=self.retries,
                           retry_delay=0.5)

    def _web(self) -> DicomWebClient:
        assert isinstance(self.node, DicomWebNode)
        return DicomWebClient(self.node, timeout=self.timeout, retries=self.retries,
                              retry_delay=0.5)

    def echo(self) -> str:
        """C-ECHO (or a one-study QIDO-RS search); returns a sentence saying it answered."""
        if isinstance(self.node, DimseNode):
            self._dimse().echo(self.node)
            return f"{self.node} answered the C-ECHO"
        self._web().ping()
        return f"{self.node} answered a QIDO-RS search"

    def find_studies(self, query: StudyQuery) -> list[StudyMatch]:
        """Studies matching ``query``, as the node lists them."""
        keys = query.matching_keys()
        if isinstance(self.node, DimseNode):
            return [StudyMatch.from_dataset(d)
                    for d in self._dimse().find_studies(self.node, **keys)]
        return [StudyMatch.from_json(d) for d in self._web().search_studies(**keys)]

    def retrieve(self, study_uid: str, store: InstanceStore,
                 cancel: threading.Event | None = None,
                 on_filed: Callable[[Path], None] | None = None) -> list[Path]:
        """The study's instances filed in ``store`` (C-MOVE to our SCP, C-GET, or WADO-RS,
        as the node says). ``on_filed(path)`` is called (in a network thread) as each
        complete instance is filed; ``cancel`` (set from another thread) stops after the
        instance in transit and raises NetworkError; what was filed before stays."""
        if isinstance(self.node, DicomWebNode):
            return self._retrieve_web(study_uid, store, cancel, on_filed)
        if self.node.retrieve == "get":
            report = self._dimse().get(
                self.node, study_uid, store, cancel=cancel,
                on_filed=None if on_filed is None else (lambda inst: on_filed(inst.path)))
            if report.failed and not report.files:
                raise NetworkError(f"{self.node} could not send any instance of the study by "
                                   f"C-GET ({report.failed} failed; they may be of a kind "
                                   "we do not accept)")
            return report.files
        received: list[Path] = []
        lock = threading.Lock()

        def collect(inst: ReceivedInstance) -> None:
            with lock:
                received.append(inst.path)
            if on_filed is not None:
                on_filed(inst.path)

        scp = self.scp
        own = scp is None
        if scp is None:
            if not self.scp_port:
                raise NetworkError("a C-MOVE needs our Storage SCP port: set it in the PACS "
                                   "settings (the node must know our AE title at that port)")
            try:
                scp = StorageSCP(self.ae_title, self.scp_port, store, collect,
                                 allowed_aets=[self.node.ae_title], timeout=self.timeout,
                                 tls=self.scp_tls)
            except ValueError as exc:  # a TLS file of our SCP
                raise NetworkError(f"cannot receive the C-MOVE: {exc}") from None
            scp.start()
        else:
            previous = scp.on_received

            def both(inst: ReceivedInstance) -> None:
                collect(inst)
                if previous is not None:
                    previous(inst)

            scp.on_received = both
        # A TLS node may call us with TLS too: when it cannot deliver, say what to set.
        hint = (" If it calls us with DICOM TLS, our Storage SCP needs TLS too (its "
                "certificate and key)." if self.node.tls and own and self.scp_tls is None
                else "")
        try:
            report = self._dimse().move(self.node, self.ae_title, study_uid, cancel=cancel)
        except NetworkError as exc:
            if not hint or (cancel is not None and cancel.is_set()):
                raise
            raise NetworkError(f"{exc}.{hint}", transient=exc.transient) from None
        finally:
            if own:
                scp.stop()
            else:
                scp.on_received = previous
        if report.failed and not received:
            raise NetworkError(f"{self.node} could not send the study to {self.ae_title} "
                               f"({report.failed} failed; does it know {self.ae_title} at "
                               f"port {self.scp_port}?).{hint}")
        return list(dict.fromkeys(received))

    def _retrieve_web(self, study_uid: str, store: InstanceStore,
                      cancel: threading.Event | None,
                      on_filed: Callable[[Path], None] | None) -> list[Path]:
        def filed(path: Path) -> None:
            if on_filed is not None:
                on_filed(path)
            if cancel is not None and cancel.is_set():
                raise _Cancelled

        try:
            files, refused = self._web().retrieve_study(study_uid, store, filed)
        except _Cancelled:
            raise NetworkError(f"WADO-RS retrieve from {self.node} cancelled") from None
        if not files and refused:
            raise NetworkError(f"every instance from {self.node} was refused: "
                               f"{next(iter(refused.values()))}")
        return files

    def send(self, files: Iterable[str | Path]) -> int:
        """C-STORE or STOW-RS ``files``; returns how many were sent."""
        paths = [Path(f) for f in files]
        if isinstance(self.node, DicomWebNode):
            self._web().store(paths)
            return len(paths)
        report = self._dimse().store(self.node, paths)
        if report.refused:
            path, why = next(iter(report.refused.items()))
            raise NetworkError(f"{self.node} refused {len(report.refused)} of {len(paths)} "
                               f"file(s) ({path.name}: {why})")
        return len(report.sent)
