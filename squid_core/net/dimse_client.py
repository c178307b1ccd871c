"""DIMSE as a service user: C-ECHO, C-FIND (study, series), C-MOVE and C-STORE.

Each call opens one association, does its work and releases it. An association that
cannot be made (no answer, a timeout, a transient reject, an abort) is tried again
``retries`` times, ``retry_delay`` seconds apart, doubling; a permanent reject (e.g.
our AE title is unknown to the peer) is not. Everything that fails is raised as
:class:`~squid_core.net.errors.NetworkError` naming the peer and the reason.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, DEFAULT_TRANSFER_SYNTAXES, StoragePresentationContexts
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from squid_core.net.errors import NetworkError
from squid_core.net.nodes import DimseNode, check_ae_title

log = logging.getLogger(__name__)

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
class StoreReport:
    """What a C-STORE batch did: the files sent and those refused, with the reason."""

    sent: list[Path] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)


def _status(ds: Dataset | None) -> int | None:
    return None if ds is None or "Status" not in ds else int(ds.Status)


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

    def _associate(self, node: DimseNode, contexts: Sequence[Any]) -> tuple[AE, Association]:
        ae = self._ae(contexts)
        started = time.monotonic()
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
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
                          work: Callable[[Association], Any]) -> Any:
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                ae, assoc = self._associate(node, contexts)
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

    @staticmethod
    def _check_alive(assoc: Association, node: DimseNode, what: str) -> None:
        if assoc.is_aborted or not assoc.is_established:
            raise NetworkError(f"{node} went away during {what} (association aborted)",
                               transient=True)

    # -- services ------------------------------------------------------------------

    def echo(self, node: DimseNode) -> None:
        """C-ECHO: returns when ``node`` answers with success."""
        def work(assoc: Association) -> None:
            status = _status(assoc.send_c_echo())
            if status != 0x0000:
                self._check_alive(assoc, node, "C-ECHO")
                raise NetworkError(f"{node} answered C-ECHO with status 0x{status or 0:04X}")

        self._with_association(node, [Verification], work)

    def _find(self, node: DimseNode, query: Dataset) -> list[Dataset]:
        def work(assoc: Association) -> list[Dataset]:
            found: list[Dataset] = []
            for status, identifier in assoc.send_c_find(
                    query, StudyRootQueryRetrieveInformationModelFind):
                code = _status(status)
                if code is None:
                    self._check_alive(assoc, node, "C-FIND")
                    raise NetworkError(f"{node} did not answer the C-FIND in time",
                                       transient=True)
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
             series_uid: str | None = None) -> MoveReport:
        """C-MOVE a study (or one of its series) from ``node`` to ``destination_aet``
        (usually our own Storage SCP, which ``node`` must know by that AE title)."""
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
        query.StudyInstanceUID = study_uid
        if series_uid:
            query.SeriesInstanceUID = series_uid
        dest = check_ae_title(destination_aet)

        def work(assoc: Association) -> MoveReport:
            report = MoveReport()
            for status, _ in assoc.send_c_move(query, dest,
                                               StudyRootQueryRetrieveInformationModelMove):
                code = _status(status)
                if code is None:
                    self._check_alive(assoc, node, "C-MOVE")
                    raise NetworkError(f"{node} did not answer the C-MOVE in time",
                                       transient=True)
                report.completed = int(status.get("NumberOfCompletedSuboperations",
                                                  report.completed) or 0)
                report.failed = int(status.get("NumberOfFailedSuboperations",
                                               report.failed) or 0)
                report.warning = int(status.get("NumberOfWarningSuboperations",
                                                report.warning) or 0)
                if code == 0xA801:
                    raise NetworkError(f"{node} does not know the move destination {dest}")
                if code not in (0x0000, 0xFF00, 0xB000) and (code & 0xF000) in (0xA000, 0xC000):
                    raise NetworkError(f"{node} refused the C-MOVE (status 0x{code:04X})")
            return report

        return self._with_association(node, [StudyRootQueryRetrieveInformationModelMove], work)

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
                try:
                    response = assoc.send_c_store(ds)
                except ValueError as exc:  # no accepted context for this file's syntax
                    report.refused[path] = f"{node} accepts no presentation context for it: {exc}"
                    continue
                code = _status(response)
                if code is None:
                    self._check_alive(assoc, node, "C-STORE")
                    raise NetworkError(f"{node} did not answer the C-STORE in time",
                                       transient=True)
                if code == 0x0000 or (code & 0xF000) == 0xB000:
                    report.sent.append(path)
                else:
                    report.refused[path] = f"status 0x{code:04X}"
            return report

        known = {str(c.abstract_syntax) for c in StoragePresentationContexts}
        if not set(syntaxes) <= known:
            raise NetworkError(f"cannot send to {node}: unsupported SOP class")
        return self._with_association(node, contexts, work)
