"""DICOMweb with dicomweb-client: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Retrieved instances are untrusted like anything from the network: each goes through
:class:`~squid_core.net.instance_store.InstanceStore` (UID and size checks, atomic
write) as it arrives, so a connection that breaks mid-study leaves only complete
files. HTTP and connection failures are raised as :class:`NetworkError` naming the
service and the reason; transient ones (no answer, a timeout, 5xx, 429) are tried
again ``retries`` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread

from squid_core.net.errors import NetworkError
from squid_core.net.instance_store import InstanceStore, RefusedInstance
from squid_core.net.nodes import DicomWebNode

log = logging.getLogger(__name__)


def _as_network_error(node: DicomWebNode, what: str, exc: Exception) -> NetworkError:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        return NetworkError(f"{node} answered {what} with HTTP {code} "
                            f"{exc.response.reason or ''}".strip(),
                            transient=code >= 500 or code == 429)
    if isinstance(exc, requests.Timeout):
        return NetworkError(f"{node} did not answer {what} in time", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return NetworkError(f"cannot reach {node} for {what} (connection failed or broken)",
                            transient=True)
    return NetworkError(f"{what} at {node} failed ({type(exc).__name__}: {str(exc)[:200]})")


class DicomWebClient:
    """QIDO-RS / WADO-RS / STOW-RS against one DICOMweb service."""

    def __init__(self, node: DicomWebNode, *, timeout: float = 30.0, retries: int = 2,
                 retry_delay: float = 1.0) -> None:
        self.node = node
        self.retries = max(0, int(retries))
        self.retry_delay = float(retry_delay)
        self.client = DICOMwebClient(url=node.url, timeout=timeout)
        self.client.set_http_retry_params(retry=False)  # ours, with clear messages, instead

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except (requests.RequestException, ValueError, OSError) as exc:
                err = _as_network_error(self.node, what, exc)
                if not err.transient or attempt == self.retries:
                    raise err from None
                log.warning("%s; trying again in %g s", err, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def search_studies(self, **filters: str) -> list[dict]:
        """QIDO-RS studies matching ``filters`` (e.g. ``PatientID="X"``), as DICOM JSON."""
        return self._call("a study search (QIDO-RS)",
                          lambda: self.client.search_for_studies(search_filters=filters or None))

    def ping(self) -> None:
        """A one-study QIDO-RS search: returns when the service answers."""
        self._call("a test search (QIDO-RS)", lambda: self.client.search_for_studies(limit=1))

    def search_series(self, study_uid: str) -> list[dict]:
        """QIDO-RS series of one study, as DICOM JSON."""
        return self._call("a series search (QIDO-RS)",
                          lambda: self.client.search_for_series(study_instance_uid=study_uid))

    def retrieve_study(self, study_uid: str, store: InstanceStore,
                       on_filed: Callable[[Path], None] | None = None) -> tuple[list[Path], dict[str, str]]:
        """WADO-RS a study into ``store`` instance by instance.

        Returns (files filed, refusals: reference -> reason). A connection lost midway
        raises after keeping the complete instances already filed; a retry files only
        what is still missing (instances already stored are kept as they are).
        """
        filed: list[Path] = []
        refused: dict[str, str] = {}

        def fetch() -> None:
            for ds in self.client.iter_study(study_uid):
                try:
                    path, _new = store.put_dataset(ds)
                except RefusedInstance as exc:
                    refused[str(len(filed) + len(refused) + 1)] = str(exc)
                    continue
                filed.append(path)
                if on_filed is not None:
                    on_filed(path)

        self._call("a study retrieve (WADO-RS)", fetch)
        return list(dict.fromkeys(filed)), refused

    def store(self, files: Iterable[str | Path]) -> None:
        """STOW-RS the DICOM files (all in one request)."""
        datasets = [dcmread(f) for f in files]
        if datasets:
            self._call("a store (STOW-RS)", lambda: self.client.store_instances(datasets))
