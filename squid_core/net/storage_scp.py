"""The Storage SCP: answers C-ECHO, files C-STOREs, and only talks to AE titles it knows.

Associations are refused unless they are addressed to our AE title and come from an
allowed calling AE title (``allowed_aets``; None accepts any, which the node only
does when told to). Each received instance goes through :class:`InstanceStore`
(UID and size checks, atomic write); a refused instance gets a DICOM failure status
with a reason, and the log says why without any patient data (the calling AE title,
the peer's address and a short reference derived from the SOP Instance UID). An
association that is aborted or dropped mid-transfer delivers nothing: pynetdicom
only calls the handler for complete data sets, so nothing half-received is filed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from squid_core.net.instance_store import InstanceStore, RefusedInstance, check_uid
from squid_core.net.nodes import check_ae_title
from squid_core.net.tls import TlsFiles

log = logging.getLogger(__name__)

#: C-STORE statuses (PS3.4 B.2.3).
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000


def uid_ref(uid: str) -> str:
    """A short reference to a UID for logs: enough to match two lines, nothing to identify."""
    return hashlib.sha256(str(uid).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ReceivedInstance:
    """An instance filed by the SCP."""

    sop_instance_uid: str
    path: Path
    calling_aet: str
    new: bool


class StorageSCP:
    """A C-ECHO / C-STORE SCP on ``host:port`` filing into ``store``.

    ``allowed_aets``: the calling AE titles accepted; None accepts any (say so explicitly).
    ``tls``: listen with DICOM TLS (its certificate and key; with its CA, callers must
    present a certificate signed by that CA); a caller that fails the handshake is
    dropped before any association.
    ``on_received(ReceivedInstance)`` is called (in the association's thread) after each
    instance is on disk, before the success status is returned to the sender.
    """

    def __init__(self, ae_title: str, port: int, store: InstanceStore,
                 on_received: Callable[[ReceivedInstance], None] | None = None, *,
                 allowed_aets: Sequence[str] | None, host: str = "0.0.0.0",
                 timeout: float = 60.0, max_associations: int = 10,
                 tls: TlsFiles | None = None) -> None:
        self.ae_title = check_ae_title(ae_title)
        self.port = int(port)
        self.host = host
        self.store = store
        self.on_received = on_received
        self.allowed = None if allowed_aets is None else [check_ae_title(a) for a in allowed_aets]
        if self.allowed is not None and not self.allowed:
            raise ValueError("no calling AE title is allowed: name at least one (or None for any)")
        self.ae = AE(ae_title=self.ae_title)
        for cx in AllStoragePresentationContexts:  # compressed transfer syntaxes too
            self.ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self.ae.require_called_aet = True
        self.ae.require_calling_aet = list(self.allowed or [])
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = timeout
        self.ae.maximum_associations = int(max_associations)
        # A handshake is made in the accepting thread: bounded, so a silent caller holds
        # up the others for at most 10 s.
        self.ssl_context = None if tls is None else tls.server_context(min(timeout, 10.0))
        self._server = None

    def start(self) -> None:
        """Listen (returns at once; associations are served in their own threads)."""
        handlers = [(evt.EVT_C_ECHO, lambda _e: STATUS_SUCCESS),
                    (evt.EVT_C_STORE, self._on_store),
                    (evt.EVT_REJECTED, self._on_rejected),
                    (evt.EVT_ABORTED, self._on_aborted)]
        try:
            self._server = self.ae.start_server((self.host, self.port), block=False,
                                                evt_handlers=handlers,
                                                ssl_context=self.ssl_context)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on port {self.port}: "
                          f"{exc.strerror or exc}") from None
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        """Stop listening and end the open associations: each is aborted (an instance not
        yet wholly received is discarded) and waited for (at most 10 s), so that an
        instance being filed is on disk, and ``on_received`` told, when this returns."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        for assoc in list(self.ae.active_associations):
            assoc.abort()
            assoc.join(10.0)

    def _on_rejected(self, event: evt.Event) -> None:
        log.warning("association from %s refused: not an allowed AE title, or not addressed "
                    "to %s", _peer(event)[1], self.ae_title)

    def _on_aborted(self, event: evt.Event) -> None:
        log.warning("association from %s aborted: anything incomplete was discarded",
                    _peer(event)[1])

    def _on_store(self, event: evt.Event) -> int | Dataset:
        status, received = file_c_store(event, self.store)
        if received is not None and self.on_received is not None:
            self.on_received(received)
        return status


def _peer(event: evt.Event) -> tuple[str, str]:
    """(AE title, "AET at address") of the other end of ``event``'s association."""
    assoc = event.assoc
    other = assoc.acceptor if assoc.is_requestor else assoc.requestor
    return other.ae_title, f"{other.ae_title} at {other.address}"


def file_c_store(event: evt.Event, store: InstanceStore) -> tuple[int | Dataset,
                                                                  ReceivedInstance | None]:
    """File the instance of a C-STORE request (``evt.EVT_C_STORE``) in ``store``.

    The one path for everything received by C-STORE, whether our Storage SCP was
    called or a C-GET of ours is answered on its own association: the UID and size
    checks and the atomic write of :class:`InstanceStore`. Returns the status for the
    sender and the instance filed (None when refused; the log says why without patient
    data).
    """
    aet, peer = _peer(event)
    req = event.request
    try:
        uid = check_uid(req.AffectedSOPInstanceUID)
    except RefusedInstance as exc:
        return _refuse(peer, "?", STATUS_CANNOT_UNDERSTAND, str(exc)), None
    try:
        encoded = event.encoded_dataset()
        path, new = store.put(uid, encoded, event.dataset)
    except RefusedInstance as exc:
        return _refuse(peer, uid, STATUS_CANNOT_UNDERSTAND, str(exc)), None
    except OSError as exc:
        return _refuse(peer, uid, STATUS_OUT_OF_RESOURCES,
                       f"cannot file it: {exc.strerror or exc}"), None
    except Exception as exc:  # a data set pydicom cannot parse
        return _refuse(peer, uid, STATUS_CANNOT_UNDERSTAND,
                       f"cannot parse it ({type(exc).__name__})"), None
    log.info("received instance %s from %s%s", uid_ref(uid), aet,
             "" if new else " (already stored)")
    return STATUS_SUCCESS, ReceivedInstance(uid, path, aet, new)


def _refuse(peer: str, uid: str, status: int, reason: str) -> Dataset:
    log.warning("instance %s from %s refused: %s", uid_ref(uid), peer, reason)
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = reason[:64]
    return ds
