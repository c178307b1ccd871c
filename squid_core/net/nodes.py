"""Remote nodes as data: a DIMSE peer (AE title, host, port) or a DICOMweb service (URL).

Nodes come from the command line (``AET@HOST:PORT``, a URL) or from a JSON file::

    {"nodes": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.5", "port": 104},
               {"name": "secure", "ae_title": "PACS2", "host": "pacs2.example",
                "port": 2762, "tls": true, "tls_ca": "/etc/squid/hospital-ca.pem",
                "tls_cert": "/etc/squid/squid.pem", "tls_key": "/etc/squid/squid.key",
                "retrieve": "get"},
               {"name": "web", "url": "https://pacs.example/dicom-web"}]}

A DIMSE node may use DICOM TLS (``tls``; ``tls_ca``: the CA certificate(s) that signed
its certificate; ``tls_cert``/``tls_key``: ours, when it wants one) and says how a study
is retrieved from it: ``retrieve`` ``"move"`` (C-MOVE to our Storage SCP, which the node
must know) or ``"get"`` (C-GET on the same association; the node needs to know nothing).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from squid_core.net.tls import TlsFileError, TlsFiles

#: How a study is retrieved from a DIMSE node.
RETRIEVE_METHODS = ("move", "get")

#: An AE title: 1-16 characters of the default character repertoire, no backslash.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def check_ae_title(title: str) -> str:
    """``title`` stripped of spaces, or ValueError saying why it is not an AE title."""
    t = str(title).strip()
    if not t or not _AE_TITLE.match(t):
        raise ValueError(f"not a valid AE title: {title!r} (1-16 printable characters, "
                         "no backslash)")
    return t


@dataclass(frozen=True)
class DimseNode:
    """A DIMSE peer; see the module docstring for ``tls*`` and ``retrieve``."""

    ae_title: str
    host: str
    port: int
    name: str = ""
    tls: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    retrieve: str = "move"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title))
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"not a valid port: {self.port}")
        if self.retrieve not in RETRIEVE_METHODS:
            raise ValueError(f"retrieve must be one of {', '.join(RETRIEVE_METHODS)}, "
                             f"not {self.retrieve!r}")
        if self.tls:
            self.tls_files()  # checks the combination now; the files are read on use
        elif self.tls_cert or self.tls_key or self.tls_ca:
            raise ValueError("TLS certificates are given but tls is off: set tls to true")

    def tls_files(self) -> TlsFiles:
        """The node's TLS files (ValueError when ``tls`` lacks its CA certificate)."""
        if not self.tls_ca:
            raise TlsFileError("ca", "tls needs tls_ca: the CA certificate that signed the "
                               "node's certificate (a PEM file)")
        return TlsFiles(self.tls_ca, self.tls_cert, self.tls_key)

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class DicomWebNode:
    """A DICOMweb service (QIDO-RS, WADO-RS, STOW-RS under one base URL)."""

    url: str
    name: str = ""

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^/\s]+", self.url):
            raise ValueError(f"not a DICOMweb URL (http:// or https://): {self.url!r}")
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def __str__(self) -> str:
        return self.url


class NodeFieldError(ValueError):
    """A field of a node being entered that is wrong: ``field`` names it (a parameter of
    :func:`node_from_fields`), ``str(e)`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def node_from_fields(name: str, *, web: bool = False, ae_title: str = "", host: str = "",
                     port: int = 0, url: str = "", retrieve: str = "move", tls: bool = False,
                     tls_ca: str = "", tls_cert: str = "", tls_key: str = "",
                     taken: tuple[str, ...] = ()) -> DimseNode | DicomWebNode:
    """The node a form describes: a DICOMweb node (``web``: its ``url``), else a DIMSE node.

    Checked as a user enters it: the name (not one of ``taken``), the AE title, host and
    port; with ``tls``, the TLS files are read now (:meth:`TlsFiles.client_context`), so a
    missing or unreadable file is found when the node is saved, not on first use; TLS
    files given with ``tls`` off are dropped. Raises :class:`NodeFieldError`.
    """
    name = name.strip()
    if name in taken:
        raise NodeFieldError("name", f"a node named {name!r} exists already")
    if web:
        try:
            return DicomWebNode(url.strip(), name or url.strip())
        except ValueError as exc:
            raise NodeFieldError("url", str(exc)) from None
    try:
        ae = check_ae_title(ae_title)
    except ValueError as exc:
        raise NodeFieldError("ae_title", str(exc)) from None
    host = host.strip()
    if not host or any(c.isspace() for c in host):
        raise NodeFieldError("host", f"not a host name or address: {host!r}")
    if not 0 < int(port) < 65536:
        raise NodeFieldError("port", f"not a valid port: {port}")
    if not tls:
        return DimseNode(ae, host, int(port), name or f"{ae}@{host}:{port}", retrieve=retrieve)
    files = (tls_ca.strip(), tls_cert.strip(), tls_key.strip())
    try:
        TlsFiles(*files).client_context()
    except TlsFileError as exc:
        raise NodeFieldError(f"tls_{exc.field}", str(exc)) from None
    return DimseNode(ae, host, int(port), name or f"{ae}@{host}:{port}", True, *files,
                     retrieve=retrieve)


def parse_dimse_node(text: str) -> DimseNode:
    """``AET@HOST:PORT`` -> DimseNode; ValueError with the expected form otherwise."""
    m = re.match(r"^(?P<aet>[^@]+)@(?P<host>\[[^\]]+\]|[^:]+):(?P<port>\d+)$", text.strip())
    if not m:
        raise ValueError(f"expected AET@HOST:PORT, got {text!r}")
    return DimseNode(m["aet"], m["host"].strip("[]"), int(m["port"]))


def load_nodes(path: str | Path) -> dict[str, DimseNode | DicomWebNode]:
    """The nodes of a JSON file, by name; ValueError naming the bad entry otherwise."""
    return parse_nodes(json.loads(Path(path).read_text(encoding="utf-8")), str(path))


def parse_nodes(doc: dict, source: str = "nodes") -> dict[str, DimseNode | DicomWebNode]:
    """The nodes of a ``{"nodes": [...]}`` document, by name; ValueError naming the bad
    entry (``source``: where the document came from, for the message)."""
    nodes: dict[str, DimseNode | DicomWebNode] = {}
    for i, entry in enumerate(doc.get("nodes", [])):
        name = str(entry.get("name") or f"node{i + 1}")
        try:
            if "url" in entry:
                nodes[name] = DicomWebNode(str(entry["url"]), name)
            else:
                tls = entry.get("tls", False)
                if not isinstance(tls, bool):
                    raise ValueError(f"tls must be true or false, not {tls!r}")
                nodes[name] = DimseNode(entry["ae_title"], str(entry["host"]),
                                        int(entry["port"]), name, tls,
                                        str(entry.get("tls_ca") or ""),
                                        str(entry.get("tls_cert") or ""),
                                        str(entry.get("tls_key") or ""),
                                        str(entry.get("retrieve") or "move"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: node {name!r}: {exc}") from None
    return nodes


def node_entry(node: DimseNode | DicomWebNode) -> dict:
    """``node`` as an entry of a ``{"nodes": [...]}`` document (the inverse of parse_nodes)."""
    if isinstance(node, DicomWebNode):
        return {"name": node.name, "url": node.url}
    entry: dict = {"name": node.name, "ae_title": node.ae_title, "host": node.host,
                   "port": node.port}
    if node.tls:
        entry.update(tls=True, tls_ca=node.tls_ca)
        if node.tls_cert:
            entry.update(tls_cert=node.tls_cert, tls_key=node.tls_key)
    if node.retrieve != "move":
        entry["retrieve"] = node.retrieve
    return entry
