"""The node editor of the PACS pane: add or edit a remote node, its DICOM TLS files, and
test the connection before saving.

A thin dialog over :func:`squid_core.net.nodes.node_from_fields`: what is wrong with a
field (an AE title, a port, a TLS file that is missing or unreadable) is shown under
that field when the node is saved or tested, and nothing is saved until every field is
right. "Test connection" sends a C-ECHO (a QIDO-RS search for DICOMweb) with the fields
as they are, in the window's task runner, and shows the answer or the failure (for TLS,
the reason the handshake failed) in the dialog.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from squid_core.net.nodes import DicomWebNode, DimseNode, NodeFieldError, node_from_fields
from squid_core.net.remote_query import RemoteArchive
from viewer.pacs.file_field import FileField, error_label

#: Kinds of node: label, whether it is DICOMweb.
KINDS = (("DICOM (DIMSE)", False), ("DICOMweb", True))


class NodeEditor(QDialog):
    """Add a node (``node`` None) or edit ``node``.

    ``taken``: names of the other nodes (a new name must differ); ``calling_ae``: our AE
    title for the test; ``tasks``: the window's TaskRunner. After ``accepted``, ``node``
    is the node as saved. Signals ``tested(str)`` / ``testFailed(str)``: the test's
    answer or failure, as shown.
    """

    tested = Signal(str)
    testFailed = Signal(str)

    def __init__(self, tasks: Any, calling_ae: str, node: DimseNode | DicomWebNode | None = None,
                 taken: tuple[str, ...] = (), timeout: float = 15.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit node" if node is not None else "Add node")
        self.tasks = tasks
        self.calling_ae = calling_ae
        self.original = node
        self.taken = tuple(taken)
        self.timeout = timeout
        self.node: DimseNode | DicomWebNode | None = None
        self._build(node)

    # -- construction ----------------------------------------------------------------

    def _build(self, node: DimseNode | DicomWebNode | None) -> None:
        dimse = node if isinstance(node, DimseNode) else None
        self.errors: dict[str, QLabel] = {}
        self.rows: dict[str, QWidget] = {}
        form = QFormLayout()
        self.form = form
        self.name_edit = QLineEdit(node.name if node is not None else "")
        self.name_edit.setPlaceholderText("a name of your choice (default: AET@host:port)")
        self.kind_box = QComboBox()
        for label, web in KINDS:
            self.kind_box.addItem(label, web)
        self.kind_box.setCurrentIndex(1 if isinstance(node, DicomWebNode) else 0)
        self.ae_edit = QLineEdit(dimse.ae_title if dimse else "")
        self.ae_edit.setPlaceholderText("the node's AE title, e.g. PACS")
        self.host_edit = QLineEdit(dimse.host if dimse else "")
        self.host_edit.setPlaceholderText("host name or address")
        self.port_box = QSpinBox()
        self.port_box.setRange(1, 65535)
        self.port_box.setValue(dimse.port if dimse else 104)
        self.retrieve_box = QComboBox()
        self.retrieve_box.addItem("C-MOVE (to our AE title and port)", "move")
        self.retrieve_box.addItem("C-GET (on our own connection)", "get")
        self.retrieve_box.setCurrentIndex(self.retrieve_box.findData(
            dimse.retrieve if dimse else "move"))
        self.url_edit = QLineEdit(node.url if isinstance(node, DicomWebNode) else "")
        self.url_edit.setPlaceholderText("https://pacs.example/dicom-web")
        self.tls_box = QCheckBox("Use DICOM TLS")
        self.tls_box.setToolTip("Connect through TLS; the node's certificate must be signed "
                                "by the CA certificate below")
        self.tls_box.setChecked(bool(dimse and dimse.tls))
        self.ca_field = FileField("CA certificate", dimse.tls_ca if dimse else "",
                                  "the CA that signed the node's certificate (PEM)")
        self.cert_field = FileField("Our certificate", dimse.tls_cert if dimse else "",
                                    "optional: ours, for a node that asks for one (PEM)")
        self.key_field = FileField("Our private key", dimse.tls_key if dimse else "",
                                   "the private key of our certificate (PEM)")
        form.addRow("Name", self._checked("name", self.name_edit))
        form.addRow("Kind", self.kind_box)
        form.addRow("AE title", self._checked("ae_title", self.ae_edit))
        form.addRow("Host", self._checked("host", self.host_edit))
        form.addRow("Port", self._checked("port", self.port_box))
        form.addRow("Retrieve by", self.retrieve_box)
        form.addRow("URL", self._checked("url", self.url_edit))
        form.addRow("", self.tls_box)
        form.addRow("CA certificate", self.ca_field)
        form.addRow("Our certificate", self.cert_field)
        form.addRow("Our private key", self.key_field)
        self.files = {"tls_ca": self.ca_field, "tls_cert": self.cert_field,
                      "tls_key": self.key_field}

        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("C-ECHO the node with these settings (a QIDO-RS search "
                                    "for DICOMweb)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.test_button)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(520)

        self.kind_box.currentIndexChanged.connect(self._show_kind)
        self.tls_box.toggled.connect(self._show_kind)
        self.test_button.clicked.connect(self.test_connection)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self._show_kind()

    def _checked(self, field: str, widget: QWidget) -> QWidget:
        """``widget`` with a line under it for what is wrong with ``field``."""
        box = QWidget()
        self.rows[field] = box
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        self.errors[field] = error_label()
        layout.addWidget(self.errors[field])
        return box

    def _show_kind(self) -> None:
        web = bool(self.kind_box.currentData())
        for row in (self.rows["ae_title"], self.rows["host"], self.rows["port"],
                    self.retrieve_box, self.tls_box):
            self.form.setRowVisible(row, not web)
        self.form.setRowVisible(self.rows["url"], web)
        tls = self.tls_box.isChecked() and not web
        for field in self.files.values():
            self.form.setRowVisible(field, tls)
        self.adjustSize()

    # -- checking --------------------------------------------------------------------

    def error(self, field: str) -> str:
        """What is shown as wrong with ``field`` (a parameter of node_from_fields)."""
        if field in self.files:
            return self.files[field].error
        return self.errors[field].text()

    def _clear_errors(self) -> None:
        for label in self.errors.values():
            label.setText("")
            label.hide()
        for field in self.files.values():
            field.set_error("")

    def _node_from_fields(self, taken: tuple[str, ...]) -> DimseNode | DicomWebNode | None:
        """The node the fields describe, or None with the error shown at its field."""
        self._clear_errors()
        web = bool(self.kind_box.currentData())
        try:
            if web:
                return node_from_fields(self.name_edit.text(), web=True,
                                        url=self.url_edit.text(), taken=taken)
            return node_from_fields(
                self.name_edit.text(), ae_title=self.ae_edit.text(),
                host=self.host_edit.text(), port=self.port_box.value(),
                retrieve=self.retrieve_box.currentData(), tls=self.tls_box.isChecked(),
                tls_ca=self.ca_field.path, tls_cert=self.cert_field.path,
                tls_key=self.key_field.path, taken=taken)
        except NodeFieldError as exc:
            field = exc.field
            if field in self.files:
                self.files[field].set_error(str(exc))
            else:
                self.errors[field].setText(str(exc))
                self.errors[field].show()
            self._show_status("", error=False)
            return None

    def save(self) -> None:
        """Check the fields; when right, keep the node and close (``accepted``)."""
        node = self._node_from_fields(self.taken)
        if node is None:
            return
        self.node = node
        self.accept()

    def test_connection(self) -> None:
        """C-ECHO the node as the fields describe it (in a worker); the answer is shown."""
        node = self._node_from_fields(())
        if node is None:
            return
        try:
            archive = RemoteArchive(node, self.calling_ae, timeout=self.timeout)
        except ValueError as exc:
            self._failed(f"Our AE title (in the PACS pane): {exc}")
            return
        self.test_button.setEnabled(False)
        self._show_status(f"Testing {node}…", error=False)
        self.tasks.run(archive.echo, on_result=self._answered, on_error=self._failed)

    def _answered(self, text: str) -> None:
        self.test_button.setEnabled(True)
        self._show_status(text + ".", error=False)
        self.tested.emit(text)

    def _failed(self, exc: BaseException | str) -> None:
        self.test_button.setEnabled(True)
        text = str(exc) if isinstance(exc, (OSError, ValueError, str)) else \
            f"{type(exc).__name__}: {exc}"
        self._show_status(text, error=True)
        self.testFailed.emit(text)

    def _show_status(self, text: str, *, error: bool) -> None:
        self.status.setStyleSheet("color: #d9534f;" if error else "")
        self.status.setText(text)

    @property
    def message(self) -> str:
        """The sentence the dialog shows under "Test connection"."""
        return self.status.text()
