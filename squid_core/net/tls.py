"""DICOM TLS (PS3.15 B.1): SSL contexts for associations, and what a failed handshake means.

A node that says ``tls`` is reached through an :class:`ssl.SSLContext` that trusts only
the CA certificate(s) it names (``ca``) and checks that the peer's certificate is
for the host it was asked for; ``cert`` and ``key`` add our own certificate for a peer
that wants one (mutual TLS). Our Storage SCP listens with TLS when it is given a
certificate and key; with a CA file as well it requires the caller's certificate and
checks it against that CA.

When an association cannot be made, :func:`tls_failure` connects once more with the
same context to find out why (the association layer only says it could not connect)
and returns a sentence a user can act on: a certificate not trusted, a peer that does
not speak TLS on that port, our certificate refused. :func:`plain_to_tls_port` tells
whether a port that aborted a plain association speaks TLS instead.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds a diagnosing connection waits for the peer's alert after our handshake.
_ALERT_WAIT = 1.0


class TlsFileError(ValueError):
    """A TLS file that cannot be used: ``field`` says which ("ca", "cert" or "key"), so a
    form can show the sentence next to that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one TLS end: ``ca`` (trusted CA certificate(s)), ``cert`` and ``key``
    (our certificate and its private key; both or neither). Every check raises
    :class:`TlsFileError` (a ValueError) naming the file at fault."""

    ca: str = ""
    cert: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise TlsFileError("key" if self.cert else "cert",
                               "a TLS certificate needs its private key, and a key its "
                               "certificate: give both or neither")

    def _check_files(self) -> None:
        for field, label, path in (("ca", "CA certificate", self.ca),
                                   ("cert", "certificate", self.cert),
                                   ("key", "private key", self.key)):
            if path and not Path(path).is_file():
                raise TlsFileError(field, f"TLS {label} file not found: {path}")

    def _load_ca(self, ctx: ssl.SSLContext) -> None:
        try:
            ctx.load_verify_locations(cafile=self.ca)
        except (ssl.SSLError, OSError) as exc:
            raise TlsFileError("ca", f"cannot read the TLS CA certificate {self.ca}: "
                               f"{_reason(exc)}") from None

    def _load_own(self, ctx: ssl.SSLContext) -> None:
        if self.cert:
            try:
                ctx.load_cert_chain(self.cert, self.key)
            except (ssl.SSLError, OSError) as exc:
                raise TlsFileError("cert", f"cannot use the TLS certificate {self.cert} with "
                                   f"the key {self.key}: {_reason(exc)}") from None

    def client_context(self) -> ssl.SSLContext:
        """A context for calling a peer: trusts ``ca`` only, checks the host name,
        presents ``cert`` when given. ValueError (a sentence) for a missing or bad file."""
        if not self.ca:
            raise TlsFileError("ca", "TLS needs the CA certificate that signed the peer's "
                               "certificate (a PEM file)")
        self._check_files()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_ca(ctx)
        self._load_own(ctx)
        return ctx

    def server_context(self, handshake_timeout: float = 30.0) -> ssl.SSLContext:
        """A context for listening: presents ``cert``; with ``ca``, requires the caller's
        certificate signed by it. ValueError (a sentence) for a missing or bad file."""
        if not self.cert:
            raise TlsFileError("cert", "listening with TLS needs a certificate and its "
                               "private key")
        self._check_files()
        ctx = _ServerContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.handshake_timeout = float(handshake_timeout)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._load_own(ctx)
        if self.ca:
            self._load_ca(ctx)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


class _ServerContext(ssl.SSLContext):
    """The listening context: each handshake is bounded by ``handshake_timeout`` (pynetdicom
    shakes hands in its accepting thread, so a caller that says nothing would otherwise
    stop every other caller from being accepted), and a failed one is logged (the
    caller's address and the reason, nothing else) before the connection is dropped."""

    handshake_timeout = 30.0

    def wrap_socket(self, sock: socket.socket, *args, **kwargs) -> ssl.SSLSocket:  # type: ignore[override]
        previous = sock.gettimeout()
        sock.settimeout(self.handshake_timeout)
        try:
            peer = "{}:{}".format(*sock.getpeername()[:2])
        except OSError:
            peer = "a caller"
        try:
            wrapped = super().wrap_socket(sock, *args, **kwargs)
        except OSError as exc:
            log.warning("TLS handshake from %s failed: %s; connection dropped", peer,
                        _reason(exc) if not isinstance(exc, TimeoutError) else "no handshake "
                        f"within {self.handshake_timeout:g} s")
            sock.close()
            raise
        wrapped.settimeout(previous)
        return wrapped


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message or exc.reason or exc)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _refusal(exc: ssl.SSLError) -> str:
    """What an alert from the peer says about us, or "" when it is not about our side."""
    reason = str(exc.reason or "").upper()
    if "CERTIFICATE_REQUIRED" in reason:
        return "it requires a client certificate and we have none configured"
    if any(k in reason for k in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN",
                                 "DECRYPT_ERROR", "ACCESS_DENIED")):
        return "it did not accept our client certificate"
    return ""


def tls_failure(host: str, port: int, ctx: ssl.SSLContext, timeout: float) -> str:
    """Why a TLS connection to ``host:port`` with ``ctx`` fails ("" when it does not)."""
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return ""  # not a TLS problem: the caller says the peer is unreachable
    try:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            # TLS 1.3: a peer refusing our certificate says so after our side finished.
            tls.settimeout(min(timeout, _ALERT_WAIT))
            try:
                tls.recv(1)
            except TimeoutError:
                return ""
            except ssl.SSLError as exc:
                return _refusal(exc) or f"the TLS session broke ({_reason(exc)})"
            except OSError:
                return ""
            return ""
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
            return f"its certificate is not for {host} ({_reason(exc)})"
        return (f"certificate not trusted ({_reason(exc)}): was it signed by the CA "
                "certificate configured for this node?")
    except ssl.SSLError as exc:
        refusal = _refusal(exc)
        if refusal:
            return refusal
        return (f"it does not seem to speak TLS on port {port} ({_reason(exc)}); is DICOM "
                "TLS enabled there, and is the port right?")
    except TimeoutError:
        return f"no TLS answer within {timeout:g} s"
    except OSError as exc:
        return (f"the connection closed during the handshake ({_reason(exc)}); does it speak "
                f"TLS on port {port}?")
    finally:
        raw.close()


def plain_to_tls_port(host: str, port: int, timeout: float) -> bool:
    """True when ``host:port`` completes a TLS handshake (certificate not checked): a
    plain association there fails because the port expects DICOM TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host):
            return True
    except ssl.SSLError as exc:
        return bool(_refusal(exc))  # it spoke TLS, then wanted a client certificate
    except OSError:
        return False


class _NoNetworkTraceback(logging.Filter):
    """pynetdicom logs a failed TLS handshake, or a connection the peer closed, with a
    traceback; we raise a sentence that says what happened instead, so the traceback is
    taken out of its log records (their one-line message stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            if record.getMessage() == str(record.exc_info[1]):
                return False  # LOGGER.exception(exc): the line before said it already
            record.exc_info = None
            record.exc_text = None
        return True


for _name in ("pynetdicom.transport", "pynetdicom.dul"):
    logging.getLogger(_name).addFilter(_NoNetworkTraceback())
