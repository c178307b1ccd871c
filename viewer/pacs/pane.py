"""The "PACS" pane: remote nodes, C-ECHO, study query, retrieve into the browser, send results.

A thin widget over :class:`squid_core.net.remote_query.RemoteArchive`: every network
call runs in the window's :class:`~viewer.workers.TaskRunner` (never on the GUI
thread), and every failure (association rejected, peer unreachable, timeout, a bad
date) is shown as a sentence in the pane. Retrieved studies are filed under the user's
data folder (``<data dir>/pacs/retrieved``) and opened with the window's
``open_paths``, so they appear in the browser and are analysed like any opened file.
A running retrieve can be cancelled: it stops after the image in transit, and the
complete images that arrived are opened and counted. Nodes are added as text
(``AET@HOST:PORT``, a URL) or in the node editor (:mod:`viewer.pacs.node_editor`: DICOM
TLS files, a connection test); our Storage SCP's TLS is set in
:mod:`viewer.pacs.receiver_tls`. "Send results" writes the Secondary Capture and the SR
of the image on screen (not anonymised: they go back to the archive the study came
from and must reference it) and sends them by C-STORE or STOW-RS.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from squid_core.library import default_data_dir
from squid_core.net.errors import NetworkError
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import (
    DicomWebNode,
    DimseNode,
    check_ae_title,
    node_entry,
    parse_dimse_node,
    parse_nodes,
)
from squid_core.net.remote_query import RemoteArchive, StudyMatch, StudyQuery
from viewer import exports
from viewer.pacs.node_editor import NodeEditor
from viewer.pacs.receiver import Receiver
from viewer.pacs.receiver_tls import ReceiverTlsDialog, scp_tls_files

#: Columns of the results table: header, StudyMatch attribute.
COLUMNS = (("Patient", "patient_name"), ("Date", "study_date"), ("Modality", "modalities"),
           ("Images", "instances"), ("Patient ID", "patient_id"), ("Description", "description"))
MODALITIES = ("", "CR", "DX", "CT", "MR", "US", "SR", "OT")


def retrieved_folder() -> Path:
    """Where retrieved studies are filed: ``<data dir>/pacs/retrieved``."""
    return default_data_dir() / "pacs" / "retrieved"


def parse_node_text(text: str, name: str = "") -> DimseNode | DicomWebNode:
    """``AET@HOST:PORT`` or an ``http(s)://`` DICOMweb URL -> a node (ValueError if neither)."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://")):
        return DicomWebNode(text, name or text)
    node = parse_dimse_node(text)
    return DimseNode(node.ae_title, node.host, node.port, name or str(node))


def _write_and_send(archive: RemoteArchive, jobs: list[Callable[[Path], Path]]) -> int:
    """Write the result files (SC, SR) in a temporary folder and send them all."""
    with tempfile.TemporaryDirectory(prefix="squid-send-") as tmp:
        for i, job in enumerate(jobs):
            job(Path(tmp) / f"result_{i}.dcm")
        return archive.send(sorted(Path(tmp).glob("*.dcm")))


@dataclasses.dataclass(frozen=True)
class _Fetched:
    """What a retrieve brought: the files filed, whether it was cancelled, and the
    failure that stopped it ("" when none)."""

    files: list[Path]
    cancelled: bool = False
    error: str = ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, (NetworkError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class PacsPane(QWidget):
    """Query a remote node, retrieve into the browser, send results back.

    ``window``: the main window (its ``tasks``, ``settings``, ``exporter``, ``open_paths``
    and ``resultShown`` are used). Signals, for observers and tests:
    ``echoed(str)``, ``searched(int)``, ``retrieved(list)`` (paths), ``sent(int)``,
    ``failed(str)`` (the message shown), ``progressed(int)`` (images arrived so far in
    the running retrieve), ``cancelled(list)`` (the paths that arrived before a retrieve
    was cancelled; they are opened), ``instanceFiled(str)`` (a path, emitted in the
    network thread as each instance is filed), ``editorOpened(object)`` (a NodeEditor).
    """

    echoed = Signal(str)
    searched = Signal(int)
    retrieved = Signal(list)
    sent = Signal(int)
    failed = Signal(str)
    progressed = Signal(int)
    cancelled = Signal(list)
    instanceFiled = Signal(str)
    editorOpened = Signal(object)

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self.settings = window.settings
        self.matches: list[StudyMatch] = []
        #: Keys of images retrieved from a node -> that node (for automatic sending).
        self.origins: dict[str, DimseNode | DicomWebNode] = {}
        self._busy = 0
        #: Set to cancel the running retrieve (None when none runs).
        self._cancel: threading.Event | None = None
        self._arrived = 0
        self._retrieving_text = ""
        self.editor: NodeEditor | None = None
        self.receiver_tls_dialog: ReceiverTlsDialog | None = None
        #: Seconds to wait for a node's answer (each try; one retry after a transient failure).
        self.timeout = 15.0
        self._build()
        self._load_nodes()
        self.receiver = Receiver(window, self)
        window.resultShown.connect(self._on_result_shown)
        if self.settings.pacs_receive:
            self.receive_box.setChecked(True)

    # -- construction ----------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        nodes = QGridLayout()
        self.node_box = QComboBox()
        self.node_box.setToolTip("The remote node to query, retrieve from and send to")
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("C-ECHO the node (a QIDO-RS search for DICOMweb)")
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the node: AE title, host, port, DICOM TLS")
        self.remove_button = QPushButton("Remove")
        self.node_edit = QLineEdit()
        self.node_edit.setPlaceholderText("AET@host:port or https://…/dicom-web")
        self.add_button = QPushButton("Add")
        self.new_button = QPushButton("New…")
        self.new_button.setToolTip("Add a node in a form: AE title, host, port, DICOM TLS "
                                   "certificates, and a connection test")
        node_buttons = QHBoxLayout()
        for button in (self.test_button, self.edit_button, self.remove_button,
                       self.new_button):
            node_buttons.addWidget(button)
        quick_add = QHBoxLayout()
        quick_add.addWidget(self.node_edit, 1)
        quick_add.addWidget(self.add_button)
        nodes.addWidget(QLabel("Node"), 0, 0)
        nodes.addWidget(self.node_box, 0, 1)
        nodes.addLayout(node_buttons, 1, 1)
        nodes.addLayout(quick_add, 2, 1)
        self.retrieve_box = QComboBox()
        self.retrieve_box.addItem("C-MOVE", "move")
        self.retrieve_box.addItem("C-GET", "get")
        self.retrieve_box.setToolTip(
            "How studies come from this node: C-MOVE (the node sends them to our AE title "
            "and port, which it must know) or C-GET (on our own connection; the node needs "
            "no route back to us)")
        nodes.addWidget(QLabel("Retrieve by"), 3, 0)
        nodes.addWidget(self.retrieve_box, 3, 1)
        layout.addLayout(nodes)

        own = QHBoxLayout()
        self.ae_edit = QLineEdit(self.settings.pacs_ae_title)
        self.ae_edit.setToolTip("Our AE title (the node must know it, at our port, for C-MOVE)")
        self.port_box = QSpinBox()
        self.port_box.setRange(1, 65535)
        self.port_box.setValue(self.settings.pacs_scp_port)
        self.port_box.setToolTip("Port our Storage SCP listens on for C-MOVE")
        own.addWidget(QLabel("Our AE title"))
        own.addWidget(self.ae_edit, 1)
        own.addWidget(QLabel("port"))
        own.addWidget(self.port_box)
        layout.addLayout(own)

        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("part of the name, or a pattern with * ?")
        self.id_edit = QLineEdit()
        self.from_edit = QLineEdit()
        self.from_edit.setPlaceholderText("YYYYMMDD")
        self.to_edit = QLineEdit()
        self.to_edit.setPlaceholderText("YYYYMMDD")
        dates = QHBoxLayout()
        dates.addWidget(self.from_edit)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.to_edit)
        self.modality_box = QComboBox()
        self.modality_box.setEditable(True)
        self.modality_box.addItems(MODALITIES)
        form.addRow("Patient name", self.name_edit)
        form.addRow("Patient ID", self.id_edit)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality_box)
        layout.addLayout(form)

        self.search_button = QPushButton("Search")
        layout.addWidget(self.search_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c for c, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setDefaultSectionSize(110)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)

        actions = QHBoxLayout()
        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.setToolTip("Bring the selected studies into the browser")
        self.send_button = QPushButton("Send results")
        self.send_button.setToolTip("Send the SC and SR of the image on screen to the node")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the retrieve after the image in transit; the "
                                      "images that arrived stay in the browser")
        self.cancel_button.hide()
        actions.addWidget(self.retrieve_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.send_button)
        layout.addLayout(actions)
        self.auto_send = QCheckBox("Send results of retrieved images automatically")
        self.auto_send.setChecked(self.settings.pacs_auto_send)
        layout.addWidget(self.auto_send)
        receive = QHBoxLayout()
        self.receive_box = QCheckBox("Receive (Storage SCP)")
        self.receive_box.setToolTip("Studies sent to our AE title and port appear in the "
                                    "browser and are analysed as they arrive")
        self.allowed_edit = QLineEdit(" ".join(self.settings.pacs_allowed_aets))
        self.allowed_edit.setPlaceholderText("allowed calling AE titles, space-separated")
        self.tls_button = QPushButton("TLS…")
        self.tls_button.setToolTip("DICOM TLS of our Storage SCP: certificate, key, and the "
                                   "CA of callers")
        receive.addWidget(self.receive_box)
        receive.addWidget(self.allowed_edit, 1)
        receive.addWidget(self.tls_button)
        layout.addLayout(receive)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        self.test_button.clicked.connect(self.test_node)
        self.add_button.clicked.connect(self.add_node)
        self.node_edit.returnPressed.connect(self.add_node)
        self.remove_button.clicked.connect(self.remove_node)
        self.edit_button.clicked.connect(lambda: self.open_editor(self.current_node()))
        self.new_button.clicked.connect(lambda: self.open_editor(None))
        self.cancel_button.clicked.connect(self.cancel_retrieve)
        self.tls_button.clicked.connect(self.open_receiver_tls)
        self.instanceFiled.connect(self._on_instance_filed)  # queued: a network thread
        self.node_box.currentIndexChanged.connect(self._show_retrieve_method)
        self.retrieve_box.activated.connect(
            lambda i: self.set_retrieve_method(self.retrieve_box.itemData(i)))
        self.search_button.clicked.connect(self.search)
        for edit in (self.name_edit, self.id_edit, self.from_edit, self.to_edit):
            edit.returnPressed.connect(self.search)
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.table.doubleClicked.connect(self.retrieve_selected)
        self.send_button.clicked.connect(self.send_results)
        self.auto_send.toggled.connect(
            lambda on: setattr(self.settings, "pacs_auto_send", bool(on)))
        self.ae_edit.editingFinished.connect(
            lambda: setattr(self.settings, "pacs_ae_title", self.ae_edit.text().strip()))
        self.port_box.valueChanged.connect(
            lambda v: setattr(self.settings, "pacs_scp_port", int(v)))
        self.receive_box.toggled.connect(self.set_receiving)
        self._update_enabled()

    # -- nodes -----------------------------------------------------------------------

    def _load_nodes(self) -> None:
        try:
            nodes = parse_nodes({"nodes": self.settings.pacs_nodes}, "PACS settings")
        except ValueError as exc:
            self._show_error(str(exc))
            nodes = {}
        self.node_box.clear()
        for name, node in nodes.items():
            self.node_box.addItem(name, node)
        self._update_enabled()

    def nodes(self) -> list[DimseNode | DicomWebNode]:
        """The configured nodes, in the order listed."""
        return [self.node_box.itemData(i) for i in range(self.node_box.count())]

    def add_node(self, text: str | None = None) -> None:
        """Add ``AET@HOST:PORT`` or a DICOMweb URL (the text in the node field by default)
        to the nodes in settings, and choose it."""
        text = self.node_edit.text() if not isinstance(text, str) else text
        try:
            node = parse_node_text(text)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        kept = [node_entry(n) for n in self.nodes() if n.name != node.name]
        self.settings.pacs_nodes = [*kept, node_entry(node)]
        self._load_nodes()
        self.node_box.setCurrentIndex(self.node_box.findText(node.name))
        self.node_edit.clear()
        self._show_info(f"Added {node}.")

    def remove_node(self) -> None:
        """Forget the chosen node."""
        node = self.current_node()
        if node is None:
            return
        self.settings.pacs_nodes = [node_entry(n) for n in self.nodes() if n.name != node.name]
        self._load_nodes()

    def open_editor(self, node: DimseNode | DicomWebNode | None = None) -> NodeEditor:
        """Open the node editor for ``node`` (None: a new node); saved, it replaces the
        node in settings (or is added) and is chosen."""
        taken = tuple(n.name for n in self.nodes() if node is None or n.name != node.name)
        editor = NodeEditor(self.window_.tasks, self.ae_edit.text().strip(), node, taken,
                            self.timeout, self)
        editor.accepted.connect(lambda: self._save_edited(node, editor.node))
        if self.editor is not None:
            self.editor.deleteLater()  # the one opened before (closed by now)
        self.editor = editor
        editor.open()
        self.editorOpened.emit(editor)
        return editor

    def _save_edited(self, original: DimseNode | DicomWebNode | None,
                     node: DimseNode | DicomWebNode | None) -> None:
        if node is None:
            return
        entries = [node_entry(n) for n in self.nodes()]
        if original is None:
            entries.append(node_entry(node))
        else:
            entries = [node_entry(node) if e["name"] == original.name else e for e in entries]
        self.settings.pacs_nodes = entries
        self._load_nodes()
        self.node_box.setCurrentIndex(self.node_box.findText(node.name))
        tls = ", DICOM TLS" if isinstance(node, DimseNode) and node.tls else ""
        self._show_info(f"Saved {node.name} ({node}{tls}).")

    def set_retrieve_method(self, method: str) -> None:
        """Retrieve from the chosen DIMSE node by ``"move"`` or ``"get"`` (in settings)."""
        node = self.current_node()
        if not isinstance(node, DimseNode) or node.retrieve == method:
            return
        changed = dataclasses.replace(node, retrieve=method)
        self.settings.pacs_nodes = [node_entry(changed if n.name == node.name else n)
                                    for n in self.nodes()]
        self._load_nodes()
        self.node_box.setCurrentIndex(self.node_box.findText(node.name))

    def _show_retrieve_method(self) -> None:
        node = self.current_node()
        dimse = isinstance(node, DimseNode)
        self.retrieve_box.setEnabled(dimse)
        self.retrieve_box.setCurrentIndex(
            self.retrieve_box.findData(node.retrieve if dimse else "move"))

    def current_node(self) -> DimseNode | DicomWebNode | None:
        """The node chosen in the list (None when there is none)."""
        return self.node_box.currentData()

    def _archive(self, node: DimseNode | DicomWebNode | None = None) -> RemoteArchive | None:
        node = node or self.current_node()
        if node is None:
            self._show_error("Add a node first: AET@host:port, or a DICOMweb URL.")
            return None
        try:
            ae = check_ae_title(self.ae_edit.text())
        except ValueError as exc:
            self._show_error(f"Our AE title: {exc}")
            return None
        try:
            scp_tls = scp_tls_files(self.settings)
        except ValueError as exc:
            self._show_error(f"Our Storage SCP's TLS: {exc}")
            return None
        self.settings.pacs_ae_title = ae
        return RemoteArchive(node, ae, scp_port=self.port_box.value(), scp=self.receiver.scp,
                             timeout=self.timeout, scp_tls=scp_tls)

    # -- work ------------------------------------------------------------------------

    def _run(self, busy_text: str, func: Callable[..., Any], *args: Any,
             on_result: Callable[[Any], None]) -> None:
        self._busy += 1
        self._update_enabled()
        self._show_info(busy_text)

        def done(value: Any) -> None:
            self._busy -= 1
            self._update_enabled()
            on_result(value)

        def failed(exc: BaseException) -> None:
            self._busy -= 1
            self._cancel = None
            self._update_enabled()
            self._show_error(_message(exc))

        self.window_.tasks.run(func, *args, on_result=done, on_error=failed)

    def test_node(self) -> None:
        """C-ECHO the chosen node (in a worker); the answer or the failure is shown."""
        archive = self._archive()
        if archive is None:
            return
        self._run(f"Testing {archive.node}…", archive.echo, on_result=self._on_echoed)

    def _on_echoed(self, text: str) -> None:
        self._show_info(text + ".")
        self.echoed.emit(text)

    def query(self) -> StudyQuery:
        """The query the fields describe (ValueError for a bad date)."""
        return StudyQuery(self.name_edit.text(), self.id_edit.text(), self.from_edit.text(),
                          self.to_edit.text(), self.modality_box.currentText())

    def search(self) -> None:
        """Find the studies matching the fields on the chosen node (in a worker)."""
        try:
            query = self.query()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        archive = self._archive()
        if archive is None:
            return
        self._run(f"Searching {archive.node}…", archive.find_studies, query,
                  on_result=self._on_found)

    def _on_found(self, matches: list[StudyMatch]) -> None:
        self.matches = list(matches)
        self.table.setRowCount(len(self.matches))
        for row, match in enumerate(self.matches):
            for col, (_, attr) in enumerate(COLUMNS):
                self.table.setItem(row, col, QTableWidgetItem(getattr(match, attr)))
        if self.matches:
            self.table.selectRow(0)
        self._show_info(f"{len(self.matches)} stud{'y' if len(self.matches) == 1 else 'ies'} "
                        "found.")
        self._update_enabled()
        self.searched.emit(len(self.matches))

    def selected_matches(self) -> list[StudyMatch]:
        """The studies selected in the table."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.matches[r] for r in rows if r < len(self.matches)]

    def retrieve_selected(self) -> None:
        """Retrieve the selected studies (in a worker) and open them in the browser."""
        studies = self.selected_matches()
        if not studies:
            self._show_error("Select a study in the list first.")
            return
        archive = self._archive()
        if archive is None:
            return
        uids = [m.study_uid for m in studies]
        cancel = threading.Event()

        def fetch() -> _Fetched:
            store = InstanceStore(retrieved_folder())
            filed: list[Path] = []

            def on_filed(path: Path) -> None:
                filed.append(path)
                self.instanceFiled.emit(str(path))

            try:
                for uid in uids:
                    if cancel.is_set():
                        break
                    filed += archive.retrieve(uid, store, cancel=cancel, on_filed=on_filed)
            except NetworkError as exc:
                if not cancel.is_set():
                    return _Fetched(list(dict.fromkeys(filed)), error=str(exc))
            return _Fetched(list(dict.fromkeys(filed)), cancelled=cancel.is_set())

        self._cancel = cancel
        self._arrived = 0
        self._retrieving_text = (f"Retrieving {len(uids)} stud{'y' if len(uids) == 1 else 'ies'}"
                                 f" from {archive.node}…")
        self._run(self._retrieving_text, fetch,
                  on_result=lambda got: self._on_retrieved(archive.node, got))

    def cancel_retrieve(self) -> None:
        """Stop the running retrieve after the image in transit (what arrived is kept)."""
        if self._cancel is not None:
            self._cancel.set()
            self.cancel_button.setEnabled(False)
            self._show_info("Cancelling the retrieve…")

    def _on_instance_filed(self, _path: str) -> None:
        if self._cancel is None:
            return
        self._arrived += 1
        if not self._cancel.is_set():
            self._show_info(f"{self._retrieving_text} {self._arrived} image(s) arrived.")
        self.progressed.emit(self._arrived)

    def _on_retrieved(self, node: DimseNode | DicomWebNode, got: _Fetched) -> None:
        self._cancel = None
        self._update_enabled()
        files = [str(f) for f in got.files]
        for f in files:
            self.origins[f] = node
        if files:
            self.window_.open_paths(files)
        if got.cancelled:
            self._show_info(f"Retrieve cancelled: {len(files)} image(s) had arrived from "
                            f"{node}" + ("; they are in the browser." if files else "."))
            self.cancelled.emit(files)
        elif got.error:
            self._show_error(got.error + (f" The {len(files)} image(s) that arrived are in "
                                          "the browser." if files else ""))
        elif not files:
            self._show_error(f"{node} sent nothing for the selected studies.")
        else:
            self._show_info(f"Retrieved {len(files)} image(s) from {node}; opening them.")
            self.retrieved.emit(files)

    def send_results(self, node: DimseNode | DicomWebNode | None = None) -> None:
        """Send the SC and SR of the image on screen to ``node`` (the chosen one)."""
        view = self.window_.exporter.screen_view()
        if view is None:
            self._show_error("Nothing to send: open an image and analyse it first.")
            return
        try:
            jobs = [exports.secondary_capture_job(view, anonymise=False),
                    exports.structured_report_job(view, anonymise=False)]
        except ValueError as exc:
            self._show_error(str(exc))
            return
        archive = self._archive(node if isinstance(node, (DimseNode, DicomWebNode)) else None)
        if archive is None:
            return
        self._run(f"Sending results to {archive.node}…", _write_and_send, archive, jobs,
                  on_result=lambda n: self._on_sent(archive.node, n))

    def _on_sent(self, node: DimseNode | DicomWebNode, count: int) -> None:
        self._show_info(f"Sent {count} file(s) (Secondary Capture and SR) to {node}.")
        self.sent.emit(count)

    def _on_result_shown(self, key: str) -> None:
        node = self.origins.get(key)
        if node is not None and self.auto_send.isChecked():
            del self.origins[key]  # once per image
            self.send_results(node)

    # -- receiving -------------------------------------------------------------------

    def set_receiving(self, on: bool) -> None:
        """Start or stop the built-in Storage SCP (remembered in settings)."""
        if not on:
            self.receiver.stop()
            self.settings.pacs_receive = False
            if not self._busy:
                self._show_info("Not receiving.")
            return
        allowed = self.allowed_edit.text().replace(",", " ").split()
        try:
            ae = check_ae_title(self.ae_edit.text())
            allowed = [check_ae_title(a) for a in allowed]
            tls = scp_tls_files(self.settings)
            port = self.receiver.start(ae, self.port_box.value(), allowed, tls)
        except (ValueError, OSError) as exc:
            self.receive_box.blockSignals(True)
            self.receive_box.setChecked(False)
            self.receive_box.blockSignals(False)
            self._show_error(f"Cannot receive: {exc}")
            return
        self.settings.pacs_ae_title = ae
        self.settings.pacs_allowed_aets = allowed
        self.settings.pacs_receive = True
        self._show_info(f"Receiving as {ae} on port {port}{' with DICOM TLS' if tls else ''} "
                        f"from {', '.join(allowed)}.")

    def open_receiver_tls(self) -> ReceiverTlsDialog:
        """Open the dialog of our Storage SCP's TLS; saved, a running receiver restarts
        with it."""
        dialog = ReceiverTlsDialog(self.settings, self)
        dialog.accepted.connect(self._on_receiver_tls_saved)
        if self.receiver_tls_dialog is not None:
            self.receiver_tls_dialog.deleteLater()
        self.receiver_tls_dialog = dialog
        dialog.open()
        return dialog

    def _on_receiver_tls_saved(self) -> None:
        if self.receiver.running:
            self.set_receiving(True)
        else:
            self._show_info("Our Storage SCP will listen with DICOM TLS." if
                            self.settings.pacs_receive_tls else
                            "Our Storage SCP will listen without TLS.")

    def shutdown(self) -> None:
        """Stop the built-in SCP (the window is closing; the setting is kept)."""
        self.receiver.stop()

    # -- state -----------------------------------------------------------------------

    def _update_enabled(self) -> None:
        has_node = self.node_box.count() > 0
        idle = self._busy == 0
        self.test_button.setEnabled(has_node and idle)
        self.remove_button.setEnabled(has_node)
        self.edit_button.setEnabled(has_node)
        self.cancel_button.setVisible(self._cancel is not None)
        self.cancel_button.setEnabled(self._cancel is not None and not self._cancel.is_set())
        self.search_button.setEnabled(has_node and idle)
        self.retrieve_button.setEnabled(has_node and idle and bool(self.matches))

    def _show_info(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def _show_error(self, text: str) -> None:
        self.status.setStyleSheet("color: #d9534f;")
        self.status.setText(text)
        self.failed.emit(text)

    @property
    def message(self) -> str:
        """The sentence the pane shows now."""
        return self.status.text()
