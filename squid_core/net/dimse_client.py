"""DIMSE as a service user: C-ECHO, C-FIND (study, series), C-MOVE, C-GET and C-STORE.

Each call opens one association, does its work and releases it. An association that
cannot be made (no answer, a timeout, a transient reject, an abort) is tried again
``retries`` times, ``retry_delay`` seconds apart, doubling; a permanent reject (e.g.
our AE title is unknown to the peer) is not, nor is a TLS handshake that failed on a
certificate. Everything that fails is raised as
:class:`~squid_core.net.errors.NetworkError` naming the peer and the reason.

A node with ``tls`` is called through DICOM TLS (:mod:`squid_core.net.tls`). C-GET
receives the instances on its own association, as a Storage SCP in the SCP role of
the storage presentation contexts; they are filed by the Storage SCP's own C-STORE
path (:func:`~squid_core.net.storage_scp.file_c_store`: checks, atomic write).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    DEFAULT_TRANSFER_SYNTAXES,
    StoragePresentationContexts,
    build_role,
    evt,
)
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from squid_core.net.errors import NetworkError
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DimseNode, check_ae_title
from squid_core.net.storage_scp import ReceivedInstance, file_c_store
from squid_core.net.tls import plain_to_tls_port, tls_failure

log = logging.getLogger(__name__)

#: Transfer syntaxes offered for the instances a C-GET brings back (the node may send
#: what it holds without converting it).
GET_TRANSFER_SYNTAXES = list(ALL_TRANSFER_SYNTAXES)

#: Attributes a study-level C-FIND asks for.
STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription",
              "PatientName", "PatientID", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedInstances")
#: Attributes a series-level C-FIND asks for.
SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
               "BodyPartExamined", "NumberOfSeriesRelatedInstances")


@dataclass
class MoveReport:
    """What a C-MOVE did: sub-operations completed, failed, with warnings."""

    completed: int = 0
    failed: int = 0
    warning: int = 0


@dataclass
class GetReport(MoveReport):
    """What a C-GET did: the sub-operation counts, and the files filed (each once)."""

    files: list[Path] = field(default_factory=list)


@dataclass
class StoreReport:
    """What a C-STORE batch did: the files sent and those refused, with the reason."""

    sent: list[Path] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)


def _status(ds: Dataset | None) -> int | None:
    return None if ds is None or "Status" not in ds else int(ds.Status)


def _count(report: MoveReport, status: Dataset) -> None:
    """Take the sub-operation counts of a C-MOVE or C-GET response (when it has them)."""
    report.completed = int(status.get("NumberOfCompletedSuboperations", report.completed) or 0)
    report.failed = int(status.get("NumberOfFailedSuboperations", report.failed) or 0)
    report.warning = int(status.get("NumberOfWarningSuboperations", report.warning) or 0)


def _retrieve_query(study_uid: str, series_uid: str | None) -> Dataset:
    """The identifier of a C-MOVE / C-GET of a study, or of one of its series."""
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    query.StudyInstanceUID = study_uid
    if series_uid:
        query.SeriesInstanceUID = series_uid
    return query


def _retrieve_failure(code: int) -> str:
    """A C-MOVE / C-GET failure status in words (PS3.4 C.4.2.1.5, C.4.3.1.4)."""
    if code in (0xA701, 0xA702):
        return f"status 0x{code:04X}: out of resources"
    if code == 0xA900:
        return "status 0xA900: our query does not match the model"
    if code == 0xAA00:
        return "status 0xAA00: no instance could be sent in a form we accept"
    if (code & 0xF000) == 0xC000:
        return (f"status 0x{code:04X}: unable to process; it may not hold that study, or "
                "no longer")
    return f"status 0x{code:04X}"


def _comment(status: Dataset) -> str:
    text = str(status.get("ErrorComment", "") or "").strip()
    return f": {text[:80]}" if text else ""


class DimseClient:
    """An SCU calling with AE title ``ae_title``."""

    def __init__(self, ae_title: str, *, timeout: float = 30.0, retries: int = 2,
                 retry_delay: float = 1.0) -> None:
        self.ae_title = check_ae_title(ae_title)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.retry_delay = float(retry_delay)

    # -- associations --------------------------------------------------------------

    def _ae(self, contexts: Sequence[Any]) -> AE:
        ae = AE(ae_title=self.ae_title)
        for ctx in contexts:
            if isinstance(ctx, tuple):  # (SOP class, transfer syntaxes)
                ae.add_requested_context(*ctx)
            else:
                ae.add_requested_context(ctx)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.connection_timeout = self.timeout
        return ae

    def _tls_context(self, node: DimseNode) -> ssl.SSLContext | None:
        if not node.tls:
            return None
        try:
            return node.tls_files().client_context()
        except ValueError as exc:
            raise NetworkError(f"cannot call {node} with TLS: {exc}") from None

    def _associate(self, node: DimseNode, contexts: Sequence[Any],
                   **options: Any) -> tuple[AE, Association]:
        ae = self._ae(contexts)
        ctx = self._tls_context(node)
        started = time.monotonic()
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title,
                             tls_args=None if ctx is None else (ctx, node.host), **options)
        # pynetdicom aborts an association request that timed out itself: that is silence,
        # not the peer aborting.
        timed_out = time.monotonic() - started >= 0.95 * self.timeout
        if assoc.is_established:
            return ae, assoc
        if assoc.is_rejected:
            prim = assoc.acceptor.primitive
            transient = prim is not None and prim.result == 0x02
            why = prim.result_str if prim is not None else "rejected"
            reason = (f"{node} rejected the association from {self.ae_title} ({why}; "
                      f"{prim.reason_str if prim is not None else 'no reason given'})")
            raise NetworkError(reason, transient=transient)
        unreachable = self._unreachable(node)
        if unreachable:
            raise NetworkError(f"cannot reach {node}: {unreachable} (is it running, and are "
                               "the host and port right?)", transient=True)
        ae.shutdown()
        if not timed_out and ctx is not None:
            why = tls_failure(node.host, node.port, ctx, self.timeout)
            if why:
                raise NetworkError(f"TLS handshake with {node} failed: {why}",
                                   transient=why.startswith("no TLS answer"))
        if not timed_out and ctx is None and plain_to_tls_port(node.host, node.port,
                                                               self.timeout):
            raise NetworkError(f"{node} expects DICOM TLS on that port and refused a plain "
                               "association: turn TLS on for this node, with the CA "
                               "certificate that signed its certificate")
        if assoc.is_aborted and not timed_out:
            raise NetworkError(f"{node} aborted the association", transient=True)
        raise NetworkError(f"{node} did not answer the association request within "
                           f"{self.timeout:g} s", transient=True)

    def _unreachable(self, node: DimseNode) -> str:
        """Why a TCP connection to ``node`` fails ("" when it does not)."""
        try:
            with socket.create_connection((node.host, node.port), timeout=self.timeout):
                return ""
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except OSError as exc:
            return (exc.strerror or str(exc)).lower()

    def _with_association(self, node: DimseNode, contexts: Sequence[Any],
                          work: Callable[[Association], Any], **options: Any) -> Any:
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                ae, assoc = self._associate(node, contexts, **options)
                try:
                    result = work(assoc)
                finally:
                    if assoc.is_established:
                        assoc.release()
                    ae.shutdown()
                return result
            except NetworkError as exc:
                if not exc.transient or attempt == self.retries:
                    raise
                log.warning("%s; trying again in %g s", exc, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _no_answer(self, node: DimseNode, what: str, since: float,
                   answered: bool) -> NetworkError:
        """Why no response came (pynetdicom yields an empty status for a timeout and for
        an association the peer aborted alike): the time waited since ``since`` (our
        request, or the last response) tells them apart."""
        if time.monotonic() - since >= 0.9 * self.timeout:
            return NetworkError(f"{node} did not answer the {what} within {self.timeout:g} s",
                                transient=True)
        if answered:
            return NetworkError(f"{node} went away during the {what} (association aborted)",
                                transient=True)
        return NetworkError(f"{node} aborted the association on our {what} request without "
                            f"answering: it may not allow {self.ae_title} this service (is "
                            "our AE title configured there?), or it went away", transient=True)

    def _retrieve_status(self, node: DimseNode, what: str, status: Dataset | None,
                         report: MoveReport, since: float, received: int = 0) -> int:
        """The status of one C-MOVE / C-GET response, its counts taken into ``report``
        (``received``: instances already received on this association)."""
        code = _status(status)
        if code is None or status is None:
            answered = bool(received or report.completed or report.failed or report.warning)
            raise self._no_answer(node, what, since, answered)
        _count(report, status)
        return code

    # -- services ------------------------------------------------------------------

    def echo(self, node: DimseNode) -> None:
        """C-ECHO: returns when ``node`` answers with success."""
        def work(assoc: Association) -> None:
            since = time.monotonic()
            status = _status(assoc.send_c_echo())
            if status is None:
                raise self._no_answer(node, "C-ECHO", since, False)
            if status != 0x0000:
                raise NetworkError(f"{node} answered C-ECHO with status 0x{status:04X}")

        self._with_association(node, [Verification], work)

    def _find(self, node: DimseNode, query: Dataset) -> list[Dataset]:
        def work(assoc: Association) -> list[Dataset]:
            found: list[Dataset] = []
            since = time.monotonic()
            for status, identifier in assoc.send_c_find(
                    query, StudyRootQueryRetrieveInformationModelFind):
                code = _status(status)
                if code is None:
                    raise self._no_answer(node, "C-FIND", since, bool(found))
                since = time.monotonic()
                if code in (0xFF00, 0xFF01) and identifier is not None:
                    found.append(identifier)
                elif code != 0x0000:
                    raise NetworkError(f"{node} refused the C-FIND (status 0x{code:04X})")
            return found

        return self._with_association(node, [StudyRootQueryRetrieveInformationModelFind], work)

    def find_studies(self, node: DimseNode, **keys: str) -> list[Dataset]:
        """Study-level C-FIND; ``keys`` are matching keys (e.g. ``PatientID="X"``,
        ``StudyDate="20240101-20240131"``, ``ModalitiesInStudy="CR"``)."""
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        for k in STUDY_KEYS:
            setattr(query, k, "")
        for k, v in keys.items():
            setattr(query, k, v)
        return self._find(node, query)

    def find_series(self, node: DimseNode, study_uid: str, **keys: str) -> list[Dataset]:
        """Series-level C-FIND within one study."""
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        for k in SERIES_KEYS:
            setattr(query, k, "")
        for k, v in keys.items():
            setattr(query, k, v)
        return self._find(node, query)

    def move(self, node: DimseNode, destination_aet: str, study_uid: str,
             series_uid: str | None = None,
             cancel: threading.Event | None = None) -> MoveReport:
        """C-MOVE a study (or one of its series) from ``node`` to ``destination_aet``
        (usually our own Storage SCP, which ``node`` must know by that AE title).
        ``cancel`` (set from another thread) aborts at the next progress answer."""
        query = _retrieve_query(study_uid, series_uid)
        dest = check_ae_title(destination_aet)

        def work(assoc: Association) -> MoveReport:
            report = MoveReport()
            since = time.monotonic()
            for status, _ in assoc.send_c_move(query, dest,
                                               StudyRootQueryRetrieveInformationModelMove):
                if cancel is not None and cancel.is_set():
                    assoc.abort()
                    raise NetworkError(f"C-MOVE from {node} cancelled")
                code = self._retrieve_status(node, "C-MOVE", status, report, since)
                since = time.monotonic()
                if code == 0xA801:
                    raise NetworkError(f"{node} does not know the move destination {dest}")
                if (code & 0xF000) in (0xA000, 0xC000):
                    raise NetworkError(f"{node} refused the C-MOVE ({_retrieve_failure(code)}"
                                       f"{_comment(status)})")
            return report

        return self._with_association(node, [StudyRootQueryRetrieveInformationModelMove], work)

    def get(self, node: DimseNode, study_uid: str, store: InstanceStore, *,
            series_uid: str | None = None,
            on_filed: Callable[[ReceivedInstance], None] | None = None,
            cancel: threading.Event | None = None) -> GetReport:
        """C-GET a study (or one of its series) from ``node`` into ``store``.

        The instances come back on our own association (``node`` needs to know nothing
        about us but our AE title), each filed as it arrives through the Storage SCP's
        path (checks, atomic write) and passed to ``on_filed``. ``cancel`` (set from
        another thread) aborts after the instance in transit. A refusal, a cancel or a
        peer that goes away raises NetworkError; complete instances already filed are
        kept (a retry files only what is missing), nothing half-received is.
        """
        query = _retrieve_query(study_uid, series_uid)
        filed: dict[Path, None] = {}
        arrived = [0]  # instances received on the current association

        def on_store(event: evt.Event) -> int | Dataset:
            status, received = file_c_store(event, store)
            if received is not None:
                arrived[0] += 1
                filed[received.path] = None
                if on_filed is not None:
                    on_filed(received)
            return status

        def work(assoc: Association) -> GetReport:
            report = GetReport()
            arrived[0] = 0
            since = time.monotonic()
            for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                if cancel is not None and cancel.is_set():
                    assoc.abort()
                    raise NetworkError(f"C-GET from {node} cancelled")
                code = self._retrieve_status(node, "C-GET", status, report, since,
                                             arrived[0])
                since = time.monotonic()
                if code == 0xFE00:
                    raise NetworkError(f"{node} cancelled the C-GET")
                if (code & 0xF000) in (0xA000, 0xC000):
                    raise NetworkError(f"{node} refused the C-GET of that "
                                       f"{query.QueryRetrieveLevel.lower()} "
                                       f"({_retrieve_failure(code)}{_comment(status)})")
            report.files = list(filed)
            return report

        # The storage contexts in the SCP role (pynetdicom: build_role): the node sends
        # the instances back as C-STOREs on this association.
        contexts = [StudyRootQueryRetrieveInformationModelGet,
                    *[(cx.abstract_syntax, GET_TRANSFER_SYNTAXES)
                      for cx in StoragePresentationContexts]]
        roles = [build_role(cx.abstract_syntax, scp_role=True)
                 for cx in StoragePresentationContexts]
        try:
            return self._with_association(node, contexts, work, ext_neg=roles,
                                          evt_handlers=[(evt.EVT_C_STORE, on_store)])
        except NetworkError as exc:
            if not filed:
                raise
            raise NetworkError(f"{exc}; the {len(filed)} complete instance(s) received "
                               "before are kept (nothing half-received), and a retry "
                               "fetches the rest", transient=exc.transient) from None

    def store(self, node: DimseNode, files: Iterable[str | Path]) -> StoreReport:
        """C-STORE each DICOM file to ``node`` on one association; a file the peer refuses
        is reported in ``refused``; a lost association raises (and is retried whole)."""
        paths = [Path(f) for f in files]
        datasets = {p: dcmread(p) for p in paths}
        # One presentation context per (SOP class, transfer syntax): an SCP accepts one
        # syntax per context, so a compressed file needs a context of its own syntax
        # (offered beside the uncompressed defaults, which it may be converted to).
        pairs: set[tuple[str, str]] = set()
        for ds in datasets.values():
            sop_class = str(ds.SOPClassUID)
            pairs.add((sop_class, str(ds.file_meta.TransferSyntaxUID)))
            pairs.update((sop_class, str(ts)) for ts in DEFAULT_TRANSFER_SYNTAXES)
        syntaxes = {c for c, _ in pairs}
        contexts = [(c, [ts]) for c, ts in sorted(pairs)]
        if len(contexts) > 128:  # the DICOM limit of one association
            raise NetworkError(f"cannot send to {node}: more than 128 presentation contexts "
                               f"needed; send fewer kinds of file at once")

        def work(assoc: Association) -> StoreReport:
            report = StoreReport()
            for path, ds in datasets.items():
                since = time.monotonic()
                try:
                    response = assoc.send_c_store(ds)
                except ValueError as exc:  # no accepted context for this file's syntax
                    report.refused[path] = f"{node} accepts no presentation context for it: {exc}"
                    continue
                code = _status(response)
                if code is None:
                    raise self._no_answer(node, "C-STORE", since,
                                          bool(report.sent or report.refused))
                if code == 0x0000 or (code & 0xF000) == 0xB000:
                    report.sent.append(path)
                else:
                    report.refused[path] = f"status 0x{code:04X}"
            return report

        known = {str(c.abstract_syntax) for c in StoragePresentationContexts}
        if not set(syntaxes) <= known:
            raise NetworkError(f"cannot send to {node}: unsupported SOP class")
        return self._with_association(node, contexts, work)
