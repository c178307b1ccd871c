"""The viewer's PACS pane against a real Orthanc: query, retrieve into the browser (analysed
like any opened file), send the SC and SR back, and how failures read in the pane."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from PySide6.QtCore import Qt

from squid_core.exports.dicom_export import CODE_SCORE
from viewer._testsupport import make_window, tiny_model_file, wait_for

DICOM = Path(__file__).parent / "data" / "dicom"
SOURCES = ("dx_image.dcm", "SIIM_CR_chest.dcm")
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("SQUID_VIEWER_DATA_DIR", str(folder))
    return folder


def _sr_score(ds) -> float:
    for item in ds.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == CODE_SCORE.value:
            return float(item.MeasuredValueSequence[0].NumericValue)
    raise AssertionError("no score in the SR")


def _pane_for(qtbot, window, orthanc, node_text: str):
    pane = window.pacs
    window.pacs_dock.show()
    window.pacs_dock.raise_()
    pane.ae_edit.setText("SQUIDTEST")
    pane.port_box.setValue(orthanc.modalities["SQUIDTEST"][1])
    pane.node_edit.setText(node_text)
    qtbot.mouseClick(pane.add_button, LEFT)
    return pane


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_query_retrieve_analyse_and_send_back(qtbot, tmp_path, orthanc, model_path, data_dir,
                                              kind):
    for name in SOURCES:
        orthanc.upload(DICOM / name)
    chest = dcmread(DICOM / "SIIM_CR_chest.dcm", stop_before_pixels=True)
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    node = (f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}" if kind == "dimse"
            else orthanc.dicomweb_url)
    pane = _pane_for(qtbot, window, orthanc, node)
    assert pane.node_box.count() == 1
    # The node is remembered in settings.
    assert len(window.settings.pacs_nodes) == 1

    with qtbot.waitSignal(pane.echoed, timeout=20000):
        qtbot.mouseClick(pane.test_button, LEFT)
    assert "answered" in pane.message

    # Everything, then only the CR study (modality filter).
    with qtbot.waitSignal(pane.searched, timeout=20000) as found:
        qtbot.mouseClick(pane.search_button, LEFT)
    assert found.args == [2] and pane.table.rowCount() == 2
    pane.modality_box.setCurrentText("CR")
    with qtbot.waitSignal(pane.searched, timeout=20000) as found:
        qtbot.mouseClick(pane.search_button, LEFT)
    assert found.args == [1]
    shown = {pane.table.horizontalHeaderItem(c).text(): pane.table.item(0, c).text()
             for c in range(pane.table.columnCount())}
    assert shown["Patient ID"] == str(chest.PatientID)
    assert (shown["Date"], shown["Modality"]) == ("19010101", "CR")

    # Retrieve: filed under the data folder, opened in the browser, analysed.
    with qtbot.waitSignal(pane.retrieved, timeout=30000) as got:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    files = [Path(p) for p in got.args[0]]
    assert [f.stem for f in files] == [str(chest.SOPInstanceUID)]
    assert files[0].parent == data_dir / "pacs" / "retrieved"
    key = str(files[0])
    assert wait_for(lambda: key in window.session.catalog.entries, 30)
    assert wait_for(lambda: window.panes.result is not None, 60)
    score = window.panes.result.score
    assert score is not None
    assert window.session.catalog.entries[key].summary is not None

    # Send results: SC and SR arrive in Orthanc, the SR carries the score on screen.
    with qtbot.waitSignal(pane.sent, timeout=30000) as sent:
        qtbot.mouseClick(pane.send_button, LEFT)
    assert sent.args == [2]
    srs = orthanc.find_instances(Modality="SR")
    assert len(srs) == 1
    sr = dcmread(io.BytesIO(orthanc.instance_file(srs[0])))
    assert str(sr.StudyInstanceUID) == str(chest.StudyInstanceUID)
    assert _sr_score(sr) == pytest.approx(score, abs=1e-3)
    assert len(orthanc.find_instances(Modality="OT")) + len(
        orthanc.find_instances(SOPClassUID="1.2.840.10008.5.1.4.1.1.7")) >= 1


def test_auto_send_after_analysis(qtbot, tmp_path, orthanc, model_path, data_dir):
    orthanc.upload(DICOM / "SIIM_CR_chest.dcm")
    window = make_window(qtbot, tmp_path)
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    assert not window.settings.pacs_auto_send  # off by default
    pane = _pane_for(qtbot, window, orthanc, f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}")
    pane.auto_send.setChecked(True)
    assert window.settings.pacs_auto_send
    with qtbot.waitSignal(pane.searched, timeout=20000):
        qtbot.mouseClick(pane.search_button, LEFT)
    with qtbot.waitSignal(pane.sent, timeout=90000):  # retrieve, show, analyse, send
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    assert len(orthanc.find_instances(Modality="SR")) == 1


def test_failures_read_clearly_in_the_pane(qtbot, tmp_path, orthanc, data_dir):
    window = make_window(qtbot, tmp_path)
    pane = window.pacs
    # View ▸ PACS shows the pane.
    toggle = next(a for a in window.menuBar().actions() if a.text() == "&View").menu().actions()
    pacs = next(a for a in toggle if a.text() == "PACS")
    window.pacs_dock.hide()
    pacs.trigger()
    assert window.pacs_dock.isVisible()
    # Bad input: a clear sentence, nothing added, no crash.
    pane.node_edit.setText("not a node")
    qtbot.mouseClick(pane.add_button, LEFT)
    assert "AET@HOST:PORT" in pane.message and pane.node_box.count() == 0
    # Nothing to search without a node.
    pane.search()
    assert "Add a node first" in pane.message

    # Orthanc does not know our AE title: the association is rejected.
    pane.node_edit.setText(f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}")
    qtbot.mouseClick(pane.add_button, LEFT)
    pane.ae_edit.setText("STRANGER")
    with qtbot.waitSignal(pane.failed, timeout=30000) as failed:
        qtbot.mouseClick(pane.search_button, LEFT)
    assert "ORTHANC@127.0.0.1" in failed.args[0]
    assert pane.search_button.isEnabled()  # ready for another try

    # A bad date range.
    pane.from_edit.setText("2024")
    qtbot.mouseClick(pane.search_button, LEFT)
    assert "YYYYMMDD" in pane.message
    pane.from_edit.clear()

    # Nobody listens: unreachable, said so.
    pane.ae_edit.setText("SQUIDTEST")
    pane.node_edit.setText(f"NOBODY@127.0.0.1:{orthanc.modalities['SQUIDSCU'][1]}")
    qtbot.mouseClick(pane.add_button, LEFT)
    with qtbot.waitSignal(pane.failed, timeout=60000) as failed:
        qtbot.mouseClick(pane.test_button, LEFT)
    assert "cannot reach NOBODY@127.0.0.1" in failed.args[0]
    # Sending with nothing analysed.
    pane.send_results()
    assert "Nothing to send" in pane.message


def test_built_in_scp_receives_shows_and_scores(qtbot, tmp_path, orthanc, model_path, data_dir):
    """Off by default; on, a study Orthanc pushes appears in the browser, scored."""
    import requests

    window = make_window(qtbot, tmp_path)
    pane = window.pacs
    assert not pane.receive_box.isChecked() and pane.receiver.scp is None
    with qtbot.waitSignal(window.modelLoaded, timeout=60000):
        window.load_model(model_path, "cpu")
    pane.ae_edit.setText("SQUIDTEST")
    pane.port_box.setValue(orthanc.modalities["SQUIDTEST"][1])
    pane.receive_box.setChecked(True)  # no allowed AE title: refused, said so
    assert "allowed" in pane.message and not pane.receive_box.isChecked()
    pane.allowed_edit.setText(orthanc.aet)
    pane.receive_box.setChecked(True)
    assert pane.receiver.running and "Receiving as SQUIDTEST" in pane.message
    assert window.settings.pacs_receive and window.settings.pacs_allowed_aets == [orthanc.aet]

    ids = [orthanc.upload(DICOM / name)["ID"] for name in SOURCES]
    answer = requests.post(f"{orthanc.url}/modalities/squidtest/store", json=ids, timeout=60)
    answer.raise_for_status()
    folder = data_dir / "pacs" / "received"
    assert wait_for(lambda: len(window.session.catalog.entries) == 2, 60)
    assert all(Path(k).parent == folder for k in window.session.catalog.entries)
    # Scored on arrival (or judged not applicable): every entry has a summary.
    assert wait_for(lambda: all(e.summary is not None
                                for e in window.session.catalog.entries.values()), 90)
    assert window.panes.image is not None  # the first arrival is shown

    pane.receive_box.setChecked(False)
    assert not pane.receiver.running


def test_a_node_that_never_answers_times_out_in_the_pane(qtbot, tmp_path, data_dir):
    """A peer that accepts the connection and then says nothing: a timeout, said so."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        window = make_window(qtbot, tmp_path)
        pane = window.pacs
        pane.timeout = 1.0
        pane.add_node(f"SILENT@127.0.0.1:{silent.getsockname()[1]}")
        with qtbot.waitSignal(pane.failed, timeout=30000) as failed:
            qtbot.mouseClick(pane.search_button, LEFT)
        assert "did not answer" in failed.args[0] and "SILENT@127.0.0.1" in failed.args[0]
        assert pane.search_button.isEnabled()
    finally:
        silent.close()


def test_a_node_set_to_c_get_is_retrieved_without_our_storage_scp(qtbot, tmp_path, orthanc,
                                                                   data_dir):
    """The per-node choice "Retrieve by C-GET" is kept in settings and honoured: the
    study comes back on our own association. Orthanc knows our AE title (SQUIDSCU) at a
    port where nothing listens, so a C-MOVE could not have delivered it."""
    orthanc.upload(DICOM / "dx_image.dcm")
    source = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
    window = make_window(qtbot, tmp_path)
    pane = _pane_for(qtbot, window, orthanc, f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}")
    pane.ae_edit.setText("SQUIDSCU")
    assert pane.retrieve_box.isEnabled() and pane.retrieve_box.currentData() == "move"
    qtbot.keyClick(pane.retrieve_box, Qt.Key.Key_Down)  # the user picks C-GET
    assert window.settings.pacs_nodes[0]["retrieve"] == "get"
    assert pane.current_node().retrieve == "get"

    with qtbot.waitSignal(pane.searched, timeout=20000):
        qtbot.mouseClick(pane.search_button, LEFT)
    with qtbot.waitSignal(pane.retrieved, timeout=30000) as got:
        qtbot.mouseClick(pane.retrieve_button, LEFT)
    (path,) = got.args[0]
    assert Path(path).name == f"{source.SOPInstanceUID}.dcm"
    assert not pane.receiver.running

    # A DICOMweb node has no such choice.
    pane.node_edit.setText(orthanc.dicomweb_url)
    qtbot.mouseClick(pane.add_button, LEFT)
    assert not pane.retrieve_box.isEnabled()
