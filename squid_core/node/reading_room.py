"""``ReadingRoomNode``: a Storage SCP whose instances are analysed as they arrive.

State lives in the store folder, so that a node killed at any moment (even SIGKILL)
and started again analyses every received instance exactly once:

    DIR/instances/<SOP Instance UID>.dcm   every instance received (atomic writes)
    DIR/results.csv                       one row per analysed instance (the commit)
    DIR/outbox/<SOP Instance UID>/         SC + SR waiting to be sent (when sending)
    DIR/unsent/                           results the peer refused outright

An instance is done when it has its row in ``results.csv``; on start every stored
instance without a row is queued again. Rows are written only from the analysis
service's events, once per instance. The log names instances by a short hash of their
UID and never carries patient data.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from squid_core.net.dicomweb import DicomWebClient
from squid_core.net.dimse_client import DimseClient
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DicomWebNode, DimseNode
from squid_core.net.storage_scp import ReceivedInstance, StorageSCP, uid_ref
from squid_core.net.tls import TlsFiles
from squid_core.node.outbox import Outbox, ResultSender, dicomweb_sender, dimse_sender
from squid_core.node.results_csv import ResultRow, ResultsCsv
from squid_core.scoring.summary import ResultSummary
from squid_core.service import AnalysisService, Job, JobOutcome, ModelSpec

log = logging.getLogger(__name__)


@dataclass
class NodeConfig:
    """What ``squid node`` is told on its command line."""

    ae_title: str
    port: int
    store: Path
    model: Path
    allowed_aets: list[str] | None = field(default_factory=list)  # None: any AE title
    send_to: DimseNode | None = None
    send_to_dicomweb: DicomWebNode | None = None
    tls: TlsFiles | None = None  # listen with DICOM TLS (see StorageSCP)
    host: str = "0.0.0.0"
    device: str = "cpu"
    threads: int = 1
    workers: int = 1
    timeout: float = 30.0
    retry_delay: float = 2.0


def _iso(ts: float | None = None) -> str:
    when = (_dt.datetime.now(_dt.timezone.utc) if ts is None
            else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc))
    return when.isoformat(timespec="milliseconds")


class ReadingRoomNode:
    """Receives, analyses, records and (optionally) sends back; see the module docstring."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        root = Path(config.store)
        self.instances = InstanceStore(root / "instances")
        self.results = ResultsCsv(root / "results.csv")
        self.service = AnalysisService(ModelSpec(str(config.model), config.device,
                                                 config.threads), workers=config.workers)
        self.outbox: Outbox | None = None
        self.sender: ResultSender | None = None
        if config.send_to is not None or config.send_to_dicomweb is not None:
            self.outbox = Outbox(root / "outbox")
            if config.send_to is not None:
                client = DimseClient(config.ae_title, timeout=config.timeout)
                send, dest = dimse_sender(client, config.send_to), str(config.send_to)
            else:
                assert config.send_to_dicomweb is not None
                web = DicomWebClient(config.send_to_dicomweb, timeout=config.timeout)
                send, dest = dicomweb_sender(web), str(config.send_to_dicomweb)
            self.sender = ResultSender(self.outbox, send, self.results.__contains__, dest,
                                       retry_delay=config.retry_delay)
        self.scp = StorageSCP(config.ae_title, config.port, self.instances, self._on_received,
                              allowed_aets=config.allowed_aets, host=config.host,
                              timeout=config.timeout, tls=config.tls)
        self.received = 0
        self.analysed = 0
        self._idle = threading.Condition()
        self._outstanding: set[str] = set()

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        """Load the model (in the worker), queue what an earlier run left, then listen."""
        self.service.finished.connect(self._on_outcome)
        self.service.failed.connect(self._on_outcome)
        self.service.start()
        backlog = [uid for uid in self.instances.uids() if uid not in self.results]
        for uid in backlog:
            self._submit(uid)
        if backlog:
            log.info("%d instance(s) received earlier and not yet analysed: queued", len(backlog))
        if self.sender is not None:
            self.sender.start()
        self.scp.start()
        info = self.service.model_info
        log.info("node %s listening on port %d; model %s %s on %s", self.config.ae_title,
                 self.scp.port, info.get("model_name"), info.get("model_version"),
                 info.get("device"))

    def stop(self) -> None:
        """Stop receiving, end the analysis (unfinished images stay queued on disk),
        stop sending; nothing half-written is left."""
        self.scp.stop()
        self.service.stop()
        if self.sender is not None:
            self.sender.stop()
        self.results.close()
        log.info("node stopped: %d received, %d analysed in this run", self.received,
                 self.analysed)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is queued or running (True) or ``timeout`` s pass (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._outstanding, timeout)

    # -- events ----------------------------------------------------------------------

    def _submit(self, uid: str) -> None:
        with self._idle:
            self._outstanding.add(uid)
        export = None if self.outbox is None else str(self.outbox.folder_for(uid))
        self.service.submit(Job(uid, str(self.instances.path_for(uid)), export_dir=export,
                                keep_arrays=False))

    def _on_received(self, inst: ReceivedInstance) -> None:
        self._arrived(inst.sop_instance_uid)

    def _arrived(self, uid: str) -> None:
        self.received += 1
        if uid in self.results:
            log.info("instance %s was analysed before: not again", uid_ref(uid))
            return
        self._submit(uid)

    def retrieve(self, web: DicomWebClient, study_uid: str) -> int:
        """Pull a study over WADO-RS into the store and queue its instances for analysis,
        as C-STOREs would be (a study found with ``web.search_studies``). Returns the
        number of instances filed; refusals are logged without patient data."""
        files, refused = web.retrieve_study(study_uid, self.instances,
                                            on_filed=lambda path: self._arrived(path.stem))
        for reason in refused.values():
            log.warning("an instance retrieved from %s was refused: %s", web.node, reason)
        return len(files)

    def _on_outcome(self, outcome: JobOutcome) -> None:
        uid = outcome.key
        # The one summary every surface uses: a result the model cannot vouch for (not
        # applicable, outside) is "review" in the flag column, never "no".
        summary = None if outcome.result is None else ResultSummary.from_result(outcome.result)
        path = self.instances.path_for(uid)
        received = path.stat().st_mtime if path.exists() else None
        row = ResultRow.of(uid, outcome.source.study_instance_uid, summary,
                           error=outcome.reason, received_at=_iso(received), analysed_at=_iso())
        try:
            appended = self.results.append(row)
        except OSError as exc:  # a full disk: the instance stays unanalysed until a restart
            log.error("cannot write %s: %s; instance %s will be analysed again after a "
                      "restart", self.results.path, exc.strerror or exc, uid_ref(uid))
            appended = False
        if appended:
            self.analysed += 1
            if outcome.status == "error":
                log.warning("instance %s: error: %s", uid_ref(uid), outcome.reason)
            else:
                log.info("instance %s: %s %s%s (%.2f s)", uid_ref(uid), outcome.status,
                         row.score, ", flagged" if row.flag == "yes" else "", outcome.seconds)
            if outcome.exports and self.sender is not None:
                self.sender.notify()
        with self._idle:
            self._outstanding.discard(uid)
            self._idle.notify_all()
