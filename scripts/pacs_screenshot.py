"""Screenshots of the viewer's PACS pane with query results from a local Orthanc, and of
its node editor with DICOM TLS.

Starts an Orthanc on loopback (tests/orthanc_server.py), uploads the two test studies
over its REST API, queries them from the pane and saves the window as a PNG::

    xvfb-run -a python scripts/pacs_screenshot.py docs/screenshots/pacs_pane.png

With ``--node-editor``: an Orthanc whose DICOM port speaks only TLS (throwaway
certificates, tests/tls_certs.py), the node editor filled in with them, "Test
connection" answered, and the dialog saved as a PNG::

    xvfb-run -a python scripts/pacs_screenshot.py --node-editor \
        docs/screenshots/pacs_node_editor_tls.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main(out: str) -> None:
    """Start Orthanc, query it from the pane, save the window to ``out``."""
    import orthanc_server
    from PySide6.QtWidgets import QApplication

    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings
    from viewer.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)  # as the viewer starts
    with tempfile.TemporaryDirectory() as tmp:
        server = orthanc_server.start_orthanc(
            Path(tmp) / "orthanc", {"SQUIDVIEWER": ("127.0.0.1", orthanc_server.free_port())})
        try:
            for name in ("dx_image.dcm", "SIIM_CR_chest.dcm"):
                server.upload(ROOT / "tests" / "data" / "dicom" / name)
            window = MainWindow(AppSettings(Path(tmp) / "settings.ini"))
            window.resize(1500, 1000)
            window.show()
            window.pacs_dock.raise_()
            pane = window.pacs
            pane.add_node(f"{server.aet}@127.0.0.1:{server.dicom_port}")
            done = []
            pane.searched.connect(done.append)
            pane.search()
            if not wait_for(lambda: (app.processEvents(), bool(done))[1], 30):
                raise SystemExit(f"no answer from Orthanc: {pane.message}")
            for _ in range(20):
                app.processEvents()
            window.grab().save(out)
            window.close()
        finally:
            server.stop()
    print(f"written {out}")


def node_editor(out: str) -> None:
    """Start a TLS-only Orthanc, fill the node editor with its TLS files, test the
    connection, save the dialog to ``out``."""
    import orthanc_server
    from PySide6.QtWidgets import QApplication
    from tls_certs import make_pki

    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings
    from viewer.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp) / "certificates")
        tls = orthanc_server.OrthancTls(pki.server_cert, pki.server_key, pki.ca)
        server = orthanc_server.start_orthanc(
            Path(tmp) / "orthanc", {"SQUIDVIEWER": ("127.0.0.1", orthanc_server.free_port())},
            tls=tls)
        try:
            window = MainWindow(AppSettings(Path(tmp) / "settings.ini"))
            window.show()
            editor = window.pacs.open_editor()
            editor.name_edit.setText("Hospital PACS (TLS)")
            editor.ae_edit.setText(server.aet)
            editor.host_edit.setText("127.0.0.1")
            editor.port_box.setValue(server.dicom_port)
            editor.retrieve_box.setCurrentIndex(editor.retrieve_box.findData("get"))
            editor.tls_box.setChecked(True)
            editor.ca_field.edit.setText(str(pki.ca))
            editor.cert_field.edit.setText(str(pki.client_cert))
            editor.key_field.edit.setText(str(pki.client_key))
            answers: list[str] = []
            editor.tested.connect(answers.append)
            editor.testFailed.connect(answers.append)
            editor.test_connection()
            if not wait_for(lambda: bool(answers), 30) or "answered" not in answers[0]:
                raise SystemExit(f"no answer from Orthanc: {editor.message}")
            for _ in range(20):
                app.processEvents()
            editor.grab().save(out)
            editor.reject()
            window.close()
        finally:
            server.stop()
    print(f"written {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--node-editor":
        node_editor(sys.argv[2] if len(sys.argv) > 2 else "pacs_node_editor_tls.png")
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "pacs_pane.png")
