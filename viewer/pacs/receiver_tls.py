"""DICOM TLS of the viewer's own Storage SCP (the receiver, and the SCP a C-MOVE starts):
the dialog that sets it, and the files it listens with.

The settings hold a switch, our certificate and key, and optionally the CA certificate
callers' certificates must be signed by (then a caller without one is refused). The
dialog checks the files as :meth:`squid_core.net.tls.TlsFiles.server_context` does
when saved, and shows what is wrong under the file at fault.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from squid_core.net.tls import TlsFileError, TlsFiles
from viewer.pacs.file_field import FileField


def scp_tls_files(settings: Any) -> TlsFiles | None:
    """The TLS files our Storage SCP listens with (None: TLS is off). ValueError when
    the settings name a certificate without its key (the files are read on use)."""
    if not settings.pacs_receive_tls:
        return None
    return TlsFiles(settings.pacs_receive_tls_ca, settings.pacs_receive_tls_cert,
                    settings.pacs_receive_tls_key)


class ReceiverTlsDialog(QDialog):
    """Edit the receiver's TLS settings; written to ``settings`` when saved and right."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Receiver TLS")
        self.settings = settings
        self.tls_box = QCheckBox("Listen with DICOM TLS")
        self.tls_box.setChecked(settings.pacs_receive_tls)
        self.cert_field = FileField("Our certificate", settings.pacs_receive_tls_cert,
                                    "the certificate we present (PEM)")
        self.key_field = FileField("Our private key", settings.pacs_receive_tls_key,
                                   "its private key (PEM)")
        self.ca_field = FileField("Callers' CA certificate", settings.pacs_receive_tls_ca,
                                  "optional: require callers' certificates signed by it")
        self.files = {"cert": self.cert_field, "key": self.key_field, "ca": self.ca_field}
        form = QFormLayout()
        form.addRow("", self.tls_box)
        form.addRow("Our certificate", self.cert_field)
        form.addRow("Our private key", self.key_field)
        form.addRow("Callers' CA", self.ca_field)
        note = QLabel("For the receiver and for the Storage SCP a C-MOVE starts. The node "
                      "that sends to us must use TLS too, and trust our certificate's CA.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

    def save(self) -> None:
        """Check the files (when TLS is on); when right, write the settings and close."""
        for field in self.files.values():
            field.set_error("")
        try:
            files = TlsFiles(self.ca_field.path, self.cert_field.path, self.key_field.path)
            if self.tls_box.isChecked():
                files.server_context()
        except TlsFileError as exc:
            self.files[exc.field].set_error(str(exc))
            return
        s = self.settings
        s.pacs_receive_tls = self.tls_box.isChecked()
        s.pacs_receive_tls_cert, s.pacs_receive_tls_key = files.cert, files.key
        s.pacs_receive_tls_ca = files.ca
        self.accept()
