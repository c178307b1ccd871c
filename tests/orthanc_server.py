"""A real Orthanc PACS for the networking tests, on loopback, with a temporary configuration.

:func:`start_orthanc` writes a configuration (storage and index in a temporary folder,
free DICOM and HTTP ports, the DICOMweb plugin loaded, the project's AE titles
registered as modalities so that C-FIND and C-MOVE from them are allowed and C-MOVE
can reach the project's Storage SCP), starts the ``Orthanc`` binary (Debian packages
``orthanc`` and ``orthanc-dicomweb``), waits until its REST API answers and returns an
:class:`Orthanc` handle; ``stop()`` ends it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

#: Where the Debian package puts the DICOMweb plugin.
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                     "/usr/lib/orthanc/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc")


def dicomweb_plugin() -> str | None:
    return next((p for p in PLUGIN_CANDIDATES if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    """A running Orthanc: its ports, AE title, and the project's AE known to it."""

    process: subprocess.Popen
    folder: Path
    http_port: int
    dicom_port: int
    modalities: dict[str, tuple[str, int]]
    aet: str = ORTHANC_AET

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, path: str | Path) -> dict:
        """POST a DICOM file to the REST API; returns Orthanc's answer."""
        r = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(), timeout=30)
        r.raise_for_status()
        return r.json()

    def get(self, route: str) -> requests.Response:
        r = requests.get(f"{self.url}{route}", timeout=30)
        r.raise_for_status()
        return r

    def find_instances(self, **query: str) -> list[str]:
        """Orthanc ids of the instances matching ``query`` (e.g. ``Modality="SR"``)."""
        r = requests.post(f"{self.url}/tools/find", timeout=30,
                          json={"Level": "Instance", "Query": query})
        r.raise_for_status()
        return r.json()

    def instance_file(self, orthanc_id: str) -> bytes:
        return self.get(f"/instances/{orthanc_id}/file").content

    def restart(self, timeout: float = 60.0) -> None:
        """Start the stopped Orthanc again, same configuration and ports."""
        self.stop()
        log = open(self.folder / "orthanc.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen([orthanc_binary(), str(self.folder / "orthanc.json")],
                                        stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        _wait_until_up(self, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass(frozen=True)
class OrthancTls:
    """DICOM TLS for Orthanc: its certificate and key, the CA certificate(s) it trusts
    (callers' certificates and those of the modalities it calls), the modalities it
    calls with TLS, and whether callers must present a certificate."""

    certificate: Path
    private_key: Path
    trusted: Path
    tls_modalities: tuple[str, ...] = ()
    client_certificate_required: bool = True


def start_orthanc(folder: Path, modalities: dict[str, tuple[str, int]],
                  timeout: float = 60.0, *, tls: OrthancTls | None = None,
                  check_calling_aet: bool = False) -> Orthanc:
    """Start Orthanc in ``folder``; ``modalities``: AE title -> (host, port) it may serve.

    ``tls``: its DICOM port speaks only DICOM TLS; ``check_calling_aet``: associations
    from AE titles not in ``modalities`` are refused, C-ECHO included."""
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        raise RuntimeError("Orthanc or its DICOMweb plugin is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "squid-test-pacs",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomCheckCalledAet": True,
        "DicomModalities": {aet.lower(): {"AET": aet, "Host": host, "Port": port,
                                          "UseDicomTls": bool(tls and aet in tls.tls_modalities)}
                            for aet, (host, port) in modalities.items()},
        "DicomScuTimeout": 10, "DicomAssociationCloseDelay": 0,
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "StableAge": 1, "SaveJobs": False, "ConcurrentJobs": 2,
    }
    if check_calling_aet:
        config.update(DicomCheckModalityHost=True, DicomAlwaysAllowEcho=False,
                      DicomAlwaysAllowStore=False, DicomAlwaysAllowFind=False,
                      DicomAlwaysAllowGet=False, DicomAlwaysAllowMove=False)
    if tls is not None:
        config.update(DicomTlsEnabled=True, DicomTlsCertificate=str(tls.certificate),
                      DicomTlsPrivateKey=str(tls.private_key),
                      DicomTlsTrustedCertificates=str(tls.trusted),
                      DicomTlsRemoteCertificateRequired=tls.client_certificate_required)
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log,
                               stderr=subprocess.STDOUT, cwd=folder)
    server = Orthanc(process, folder, http_port, dicom_port, dict(modalities))
    _wait_until_up(server, timeout)
    return server


def _wait_until_up(server: Orthanc, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.process.poll() is not None:
            raise RuntimeError("Orthanc exited at start:\n" + (server.folder / "orthanc.log")
                               .read_text(errors="replace")[-3000:])
        try:
            if requests.get(f"{server.url}/system", timeout=1).ok:
                plugins = requests.get(f"{server.url}/plugins", timeout=5).json()
                if "dicom-web" not in plugins:
                    server.stop()
                    raise RuntimeError(f"Orthanc started without the DICOMweb plugin: {plugins}")
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer within {timeout:.0f} s")
