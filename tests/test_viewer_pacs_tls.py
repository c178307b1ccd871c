"""The PACS pane with DICOM TLS and cancel, against a real Orthanc (tests/orthanc_server.py)
whose DICOM port speaks only TLS (certificates made at test time, tests/tls_certs.py):
a node entered in the node editor with its TLS files, tested, queried and retrieved;
a CA that does not match; the receiver listening with TLS; cancelling a retrieve."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog

from squid_core.net import NetworkError
from squid_core.net.dimse_client import DimseClient
from squid_core.net.nodes import DimseNode
from viewer._testsupport import make_window, wait_for

DICOM = Path(__file__).parent / "data" / "dicom"
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("SQUID_VIEWER_DATA_DIR", str(folder))
    return folder


def _type(qtbot, edit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def _tick(qtbot, box) -> None:
    """Click a checkbox on its box (a click right of its label does nothing)."""
    qtbot.mouseClick(box, LEFT, pos=QPoint(6, box.height() // 2))


def _open_editor(qtbot, pane, button):
    with qtbot.waitSignal(pane.editorOpened, timeout=5000) as opened:
        qtbot.mouseClick(button, LEFT)
    editor = opened.args[0]
    assert editor.isVisible()
    return editor


def test_tls_node_from_the_editor_tested_queried_and_retrieved(qtbot, tmp_path, orthanc_tls,
                                                              pki, data_dir, monkeypatch):
    orthanc = orthanc_tls
    orthanc.upload(DICOM / "dx_image.dcm")
    source = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
    window = make_window(qtbot, tmp_path)
    pane = window.pacs
    window.pacs_dock.show()
    pane.ae_edit.setText("SQUIDSCU")

    editor = _open_editor(qtbot, pane, pane.new_button)
    _type(qtbot, editor.name_edit, "secure pacs")
    _type(qtbot, editor.ae_edit, orthanc.aet)
    _type(qtbot, editor.host_edit, "127.0.0.1")
    editor.port_box.setValue(orthanc.dicom_port)
    editor.retrieve_box.setCurrentIndex(editor.retrieve_box.findData("get"))
    assert not editor.ca_field.isVisible()  # the TLS files show with the checkbox
    _tick(qtbot, editor.tls_box)
    assert editor.tls_box.isChecked() and editor.ca_field.isVisible()

    # TLS without a CA, then a CA file that is not there: said under the field, not saved.
    qtbot.mouseClick(editor.save_button, LEFT)
    assert "CA certificate that signed" in editor.error("tls_ca")
    missing = tmp_path / "nowhere" / "ca.pem"
    _type(qtbot, editor.ca_field.edit, str(missing))
    qtbot.mouseClick(editor.save_button, LEFT)
    assert editor.error("tls_ca") == f"TLS CA certificate file not found: {missing}"
    assert editor.isVisible() and window.settings.pacs_nodes == []
    # Our certificate without its key: said under the key.
    _type(qtbot, editor.ca_field.edit, str(pki.ca))
    _type(qtbot, editor.cert_field.edit, str(pki.client_cert))
    qtbot.mouseClick(editor.save_button, LEFT)
    assert "needs its private key" in editor.error("tls_key")
    assert editor.error("tls_ca") == ""
    # The key, picked with Browse (the file dialog answers with the path).
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(pki.client_key), "")))
    qtbot.mouseClick(editor.key_field.browse_button, LEFT)
    assert editor.key_field.path == str(pki.client_key)

    # The user picks the wrong CA first: the test says why TLS failed.
    _type(qtbot, editor.ca_field.edit, str(pki.other_ca))
    with qtbot.waitSignal(editor.testFailed, timeout=30000) as failed:
        qtbot.mouseClick(editor.test_button, LEFT)
    assert "TLS handshake with ORTHANC@127.0.0.1" in failed.args[0]
    assert "certificate not trusted" in failed.args[0]
    assert "CA certificate configured for this node" in editor.message
    assert editor.test_button.isEnabled()
    # Saved anyway (the files exist): the pane's Test says the same.
    with qtbot.waitSignal(editor.accepted, timeout=5000):
        qtbot.mouseClick(editor.save_button, LEFT)
    assert not editor.isVisible()
    entry = window.settings.pacs_nodes[0]
    assert entry == {"name": "secure pacs", "ae_title": orthanc.aet, "host": "127.0.0.1",
                     "port": orthanc.dicom_port, "tls": True, "tls_ca": str(pki.other_ca),
                     "tls_cert": str(pki.client_cert), "tls_key": str(pki.client_key),
                     "retrieve": "get"}
    with qtbot.waitSignal(pane.failed, timeout=30000) as failed:
        qtbot.mouseClick(pane.test_button, LEFT)
    assert "certificate not trusted" in failed.args[0] and pane.message == failed.args[0]

    # Edit: the right CA; the test answers; saved in place (one node).
    editor = _open_editor(qtbot, pane, pane.edit_button)
    assert editor.tls_box.isChecked() and editor.ca_field.path == str(pki.other_ca)
    _type(qtbot, editor.ca_field.edit, str(pki.ca))
    with qtbot.waitSignal(editor.tested, timeout=30000) as tested:
        qtbot.mouseClick(editor.test_button, LEFT)
    assert tested.args[0] == f"ORTHANC@127.0.0.1:{orthanc.dicom_port} answered the C-ECHO"
    with qtbot.waitSignal(editor.accepted, timeout=5000):
        qtbot.mouseClick(editor.save_button, LEFT)
    assert [n["tls_ca"] for n in window.settings.pacs_nodes] == [str(pki.ca)]
    assert pane.node_box.count() == 1 and pane.current_node().tls

    # Query and retrieve over TLS into the browser.
    with qtbot.waitSignal(pane.searched, timeout=30000) as found:
        qtbot.mouseClick(pane.search_button, LEFT)
    assert found.args == [1]
    with qtbot.waitSignal(pane.retrieved, timeout=30000) as got:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    (path,) = got.args[0]
    assert Path(path).name == f"{source.SOPInstanceUID}.dcm"
    assert wait_for(lambda: path in window.session.catalog.entries, 30)


def test_receiver_listens_with_tls_and_the_study_appears(qtbot, tmp_path, orthanc_tls, pki,
                                                         data_dir):
    """Orthanc sends a study to the viewer's receiver over TLS (its modality SQUIDTEST is
    set to use TLS); a plain caller is refused; a certificate file gone: said so."""
    orthanc = orthanc_tls
    window = make_window(qtbot, tmp_path)
    pane = window.pacs
    assert not window.settings.pacs_receive_tls  # off by default
    pane.tls_button.click()
    dialog = pane.receiver_tls_dialog
    assert dialog.isVisible()
    _tick(qtbot, dialog.tls_box)
    # No certificate: said under it.
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert "needs a certificate and its private key" in dialog.cert_field.error
    cert = tmp_path / "ours.pem"
    shutil.copy(pki.client_cert, cert)
    _type(qtbot, dialog.cert_field.edit, str(tmp_path / "missing.pem"))
    _type(qtbot, dialog.key_field.edit, str(pki.client_key))
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.cert_field.error == f"TLS certificate file not found: {tmp_path / 'missing.pem'}"
    assert not window.settings.pacs_receive_tls
    _type(qtbot, dialog.cert_field.edit, str(cert))
    _type(qtbot, dialog.ca_field.edit, str(pki.ca))
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.mouseClick(dialog.save_button, LEFT)
    s = window.settings
    assert (s.pacs_receive_tls, s.pacs_receive_tls_cert, s.pacs_receive_tls_key,
            s.pacs_receive_tls_ca) == (True, str(cert), str(pki.client_key), str(pki.ca))

    host, port = orthanc.modalities["SQUIDTEST"]
    pane.ae_edit.setText("SQUIDTEST")
    pane.port_box.setValue(port)
    pane.allowed_edit.setText(orthanc.aet)
    pane.receive_box.setChecked(True)
    assert pane.receiver.running, pane.message
    assert "with DICOM TLS" in pane.message

    # A caller without TLS is refused, and told why.
    with pytest.raises(NetworkError, match="expects DICOM TLS on that port"):
        DimseClient(orthanc.aet, timeout=5, retries=0).echo(DimseNode("SQUIDTEST", host, port))

    ids = [orthanc.upload(DICOM / "dx_image.dcm")["ID"]]
    answer = requests.post(f"{orthanc.url}/modalities/squidtest/store", json=ids, timeout=60)
    answer.raise_for_status()
    source = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
    expected = str(data_dir / "pacs" / "received" / f"{source.SOPInstanceUID}.dcm")
    assert wait_for(lambda: expected in window.session.catalog.entries, 60)

    # With the receiver off, a C-MOVE over TLS: the Storage SCP the retrieve starts listens
    # with the same TLS files (Orthanc calls it with TLS).
    pane.receive_box.setChecked(False)
    editor = pane.open_editor()
    editor.ae_edit.setText(orthanc.aet)
    editor.host_edit.setText("127.0.0.1")
    editor.port_box.setValue(orthanc.dicom_port)
    editor.tls_box.setChecked(True)
    for field, path in ((editor.ca_field, pki.ca), (editor.cert_field, pki.client_cert),
                        (editor.key_field, pki.client_key)):
        field.edit.setText(str(path))
    with qtbot.waitSignal(editor.accepted, timeout=5000):
        qtbot.mouseClick(editor.save_button, LEFT)
    assert pane.current_node().retrieve == "move" and not pane.receiver.running
    with qtbot.waitSignal(pane.searched, timeout=30000):
        qtbot.mouseClick(pane.search_button, LEFT)
    # Our SCP's TLS off: Orthanc cannot deliver, and the message says what to set.
    s.pacs_receive_tls = False
    with qtbot.waitSignal(pane.failed, timeout=60000) as failed:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    assert "our Storage SCP needs TLS too" in failed.args[0]
    s.pacs_receive_tls = True
    with qtbot.waitSignal(pane.retrieved, timeout=30000) as got:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    assert got.args[0] == [str(data_dir / "pacs" / "retrieved" / Path(expected).name)]

    # The certificate file is gone when the receiver starts again: a sentence, not running.
    cert.unlink()
    pane.receive_box.setChecked(True)
    assert not pane.receiver.running and not pane.receive_box.isChecked()
    assert pane.message == f"Cannot receive: TLS certificate file not found: {cert}"


def _upload_study(orthanc, count: int, folder: Path) -> str:
    """``count`` instances of one new study (copies of a test image), uploaded."""
    folder.mkdir()
    study = generate_uid()
    series = generate_uid()
    for i in range(count):
        ds = dcmread(DICOM / "dx_image.dcm")
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.save_as(folder / f"{i}.dcm")
        orthanc.upload(folder / f"{i}.dcm")
    return study


@pytest.mark.parametrize("method", ["get", "move", "wado"])
def test_cancel_a_retrieve_keeps_the_complete_images(qtbot, tmp_path, orthanc, data_dir,
                                                     method):
    """Cancel during a C-GET (or a C-MOVE to the Storage SCP the retrieve starts, or a
    WADO-RS retrieve) of 20 instances: what arrived is complete, in the browser and
    counted in the pane; nothing else is on disk."""
    _upload_study(orthanc, 20, tmp_path / "study")
    window = make_window(qtbot, tmp_path)
    pane = window.pacs
    pane.ae_edit.setText("SQUIDSCU" if method == "get" else "SQUIDTEST")
    pane.port_box.setValue(orthanc.modalities["SQUIDTEST"][1])
    if method == "wado":
        pane.add_node(orthanc.dicomweb_url)
        node_text = orthanc.dicomweb_url
    else:
        pane.add_node(f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}")
        pane.set_retrieve_method(method)
        node_text = f"ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    with qtbot.waitSignal(pane.searched, timeout=30000):
        qtbot.mouseClick(pane.search_button, LEFT)
    assert not pane.cancel_button.isVisible()

    # A slow link: each instance takes 0.2 s more (in the network thread, as it is filed).
    pane.instanceFiled.connect(lambda _p: time.sleep(0.2), Qt.ConnectionType.DirectConnection)

    def on_progress(count: int) -> None:  # the user clicks Cancel after the third image
        if count == 3:
            assert pane.cancel_button.isVisible() and pane.cancel_button.isEnabled()
            qtbot.mouseClick(pane.cancel_button, LEFT)

    pane.progressed.connect(on_progress)
    with qtbot.waitSignal(pane.cancelled, timeout=60000) as cancelled:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    paths = cancelled.args[0]
    assert 3 <= len(paths) < 20
    assert pane.message == (f"Retrieve cancelled: {len(paths)} image(s) had arrived from "
                            f"{node_text}; they are in the browser.")
    assert not pane.cancel_button.isVisible() and pane.retrieve_button.isEnabled()
    folder = data_dir / "pacs" / "retrieved"
    on_disk = sorted(str(p) for p in folder.iterdir())
    assert on_disk == sorted(paths)  # no temporary or partial file beside them
    for p in paths:
        assert dcmread(p).pixel_array.shape == (dcmread(DICOM / "dx_image.dcm").Rows,
                                                dcmread(DICOM / "dx_image.dcm").Columns)
    assert wait_for(lambda: set(window.session.catalog.entries) == set(paths), 30)

    # Retrieving again fetches the rest (what is there is kept).
    pane.progressed.disconnect(on_progress)
    with qtbot.waitSignal(pane.retrieved, timeout=60000) as got:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    assert len(got.args[0]) == 20 and len(list(folder.iterdir())) == 20
