"""``squid node``: receive, analyse, record, send back; refusals; restart after SIGKILL."""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from pydicom import dcmread

from squid_core.exports.dicom_export import CODE_SCORE
from squid_core.net import NetworkError
from squid_core.net.dicomweb import DicomWebClient
from squid_core.net.dimse_client import DimseClient
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DicomWebNode, DimseNode
from squid_core.net.storage_scp import StorageSCP
from squid_core.node import NodeConfig, ReadingRoomNode
from squid_core.node.results_csv import read_rows
from viewer._testsupport import tiny_model_file

DICOM = Path(__file__).parent / "data" / "dicom"
ROOT = Path(__file__).resolve().parents[1]


def _burst_module():
    spec = importlib.util.spec_from_file_location("node_burst", ROOT / "bench" / "node_burst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _wait(condition, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _sr_score(ds) -> float:
    for item in ds.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == CODE_SCORE.value:
            return float(item.MeasuredValueSequence[0].NumericValue)
    raise AssertionError("no score in the SR")


def test_squid_node_analyses_what_the_pacs_sends_and_sends_results_back(orthanc, tiny_model,
                                                                        tmp_path):
    port = orthanc.modalities["SQUIDTEST"][1]
    store, log = tmp_path / "store", tmp_path / "node.log"
    cmd = [sys.executable, "-m", "squid_core", "node", "--ae-title", "SQUIDTEST",
           "--port", str(port), "--store", str(store), "--model", str(tiny_model),
           "--allow-ae", orthanc.aet, "--host", "127.0.0.1",
           "--send-to", f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}", "--timeout", "10"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        assert _wait(lambda: b"Ctrl-C stops it" in log.read_bytes(), 120), log.read_text()
        sources = {}
        for name in ("dx_image.dcm", "SIIM_CR_chest.dcm"):
            sources[orthanc.upload(DICOM / name)["ID"]] = dcmread(DICOM / name,
                                                                  stop_before_pixels=True)
        ids = list(sources)
        # One study the project finds (C-FIND) and pulls (C-MOVE to the node)...
        pacs = DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
        scu = DimseClient("SQUIDSCU", timeout=10)
        wanted = str(sources[ids[0]].StudyInstanceUID)
        (found,) = scu.find_studies(pacs, PatientID=str(sources[ids[0]].PatientID))
        assert found.StudyInstanceUID == wanted
        assert scu.move(pacs, "SQUIDTEST", wanted).completed == 1
        # ...and one the PACS routes to the node by itself (C-STORE from Orthanc).
        requests.post(f"{orthanc.url}/modalities/squidtest/store", json=ids[1:],
                      timeout=60).raise_for_status()
        assert _wait(lambda: (store / "results.csv").exists()
                     and len(read_rows(store / "results.csv")) == 2, 60), log.read_text()
        rows = {r["sop_instance_uid"]: r for r in read_rows(store / "results.csv")}
        assert set(rows) == {str(ds.SOPInstanceUID) for ds in sources.values()}
        for ds in sources.values():
            row = rows[str(ds.SOPInstanceUID)]
            assert row["status"] == "scored" and row["study_instance_uid"] == ds.StudyInstanceUID
            assert row["flag"] in ("yes", "no") and 0 <= float(row["score"]) <= 100

        def results_in_pacs() -> list:
            return orthanc.find_instances(Modality="SR")

        assert _wait(lambda: len(results_in_pacs()) == 2, 60), log.read_text()
        for sr_id in results_in_pacs():
            sr = dcmread(io.BytesIO(orthanc.instance_file(sr_id)))
            evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
            source_uid = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]\
                .ReferencedSOPInstanceUID
            assert sr.StudyInstanceUID == rows[source_uid]["study_instance_uid"]
            assert _sr_score(sr) == pytest.approx(float(rows[source_uid]["score"]), abs=1e-3)
        overlays = [i for i in orthanc.find_instances(Modality="OT")
                    if b"SQUID heatmap overlay" in orthanc.instance_file(i)]
        assert len(overlays) == 2
        assert _wait(lambda: not any((store / "outbox").glob("*/*.dcm")), 30)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = proc.wait(60)
    text = log.read_text()
    assert code == 0, text
    assert "node stopped: 2 received, 2 analysed" in text
    for ds in sources.values():  # no patient data in the log
        for value in (str(ds.PatientName), str(ds.PatientID)):
            if value:
                assert value not in text
        assert str(ds.SOPInstanceUID) not in text
    assert "Traceback" not in text


def test_node_pulls_over_dicomweb_and_stores_results_back(orthanc, tiny_model, tmp_path):
    """QIDO-RS finds the study, WADO-RS brings it, the node analyses it, STOW-RS sends back."""
    orthanc.upload(DICOM / "dx_image.dcm")
    source = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
    web = DicomWebClient(DicomWebNode(orthanc.dicomweb_url), timeout=10)
    config = NodeConfig("SQUIDTEST", 0, tmp_path / "store", tiny_model,
                        allowed_aets=["SQUIDSCU"], host="127.0.0.1",
                        send_to_dicomweb=DicomWebNode(orthanc.dicomweb_url), timeout=10)
    node = ReadingRoomNode(config)
    node.start()
    try:
        (study,) = web.search_studies(PatientID=str(source.PatientID))
        assert node.retrieve(web, study["0020000D"]["Value"][0]) == 1
        assert node.wait_idle(60)
        assert _wait(lambda: len(orthanc.find_instances(Modality="SR")) == 1, 60)
    finally:
        node.stop()
    (row,) = read_rows(tmp_path / "store" / "results.csv")
    assert row["sop_instance_uid"] == source.SOPInstanceUID and row["status"] == "scored"
    sr = dcmread(io.BytesIO(orthanc.instance_file(orthanc.find_instances(Modality="SR")[0])))
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert _sr_score(sr) == pytest.approx(float(row["score"]), abs=1e-3)


def test_node_refuses_unknown_ae_titles_and_hostile_instances(tiny_model, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    node = ReadingRoomNode(NodeConfig("SQUIDTEST", 0, tmp_path / "store", tiny_model,
                                      allowed_aets=["FRIEND"], host="127.0.0.1", timeout=5))
    node.start()
    try:
        me = DimseNode("SQUIDTEST", "127.0.0.1", node.scp.port)
        with pytest.raises(NetworkError, match="rejected the association from STRANGER"):
            DimseClient("STRANGER", timeout=5, retries=0).echo(me)
        with pytest.raises(NetworkError, match="rejected"):  # addressed to another AE title
            DimseClient("FRIEND", timeout=5, retries=0).echo(DimseNode("OTHER", me.host, me.port))
        friend = DimseClient("FRIEND", timeout=5, retries=0)
        friend.echo(me)
        bomb = dcmread(DICOM / "dx_image.dcm")
        bomb.Rows = bomb.Columns = 65535
        bomb.NumberOfFrames = 1000
        bomb_path = tmp_path / "bomb.dcm"
        bomb.save_as(bomb_path)
        report = friend.store(me, [bomb_path, DICOM / "dx_image.dcm"])
        assert list(report.refused) == [bomb_path] and report.sent == [DICOM / "dx_image.dcm"]
        assert node.wait_idle(60)
    finally:
        node.stop()
    (row,) = read_rows(tmp_path / "store" / "results.csv")
    assert row["status"] == "scored"
    assert [p.name for p in (tmp_path / "store" / "instances").iterdir()] == [
        f"{row['sop_instance_uid']}.dcm"]
    logged = caplog.text
    assert "refused: image too large" in logged and "STRANGER" in logged
    assert str(bomb.PatientName) not in logged and str(bomb.SOPInstanceUID) not in logged


def test_node_records_a_not_applicable_instance_for_review_and_sends_nothing(tiny_model,
                                                                            tmp_path):
    """An MR slice reaches the node: not scored, its row says not-applicable with the
    reason and "review" in the flag column (never "no"); no SC or SR goes back."""
    node = ReadingRoomNode(NodeConfig("SQUIDTEST", 0, tmp_path / "store", tiny_model,
                                      allowed_aets=["FRIEND"], host="127.0.0.1", timeout=5,
                                      send_to=DimseNode("PACS", "127.0.0.1", 1)))
    node.start()
    try:
        me = DimseNode("SQUIDTEST", "127.0.0.1", node.scp.port)
        DimseClient("FRIEND", timeout=5, retries=0).store(
            me, [DICOM / "MR_small_RLE.dcm", DICOM / "SIIM_CR_chest.dcm"])
        assert node.wait_idle(60)
    finally:
        node.stop()
    rows = {r["sop_instance_uid"]: r for r in read_rows(tmp_path / "store" / "results.csv")}
    mr = rows[dcmread(DICOM / "MR_small_RLE.dcm", stop_before_pixels=True).SOPInstanceUID]
    cr = rows[dcmread(DICOM / "SIIM_CR_chest.dcm", stop_before_pixels=True).SOPInstanceUID]
    assert mr["status"] == "not-applicable" and "MR" in mr["reason"]
    assert mr["flag"] == "review" and mr["score"] == ""
    assert cr["status"] == "scored" and cr["flag"] in {"yes", "no"} and float(cr["score"]) >= 0
    outbox = tmp_path / "store" / "outbox"
    assert not (outbox / mr["sop_instance_uid"]).exists()
    assert (outbox / cr["sop_instance_uid"]).exists()  # waiting: nobody listens on port 1


def test_node_keeps_results_until_the_peer_comes_back(tiny_model, tmp_path):
    import orthanc_server

    pacs_port = orthanc_server.free_port()  # nobody listens there yet
    node = ReadingRoomNode(NodeConfig(
        "SQUIDTEST", 0, tmp_path / "store", tiny_model, allowed_aets=["FRIEND"],
        host="127.0.0.1", send_to=DimseNode("PACS", "127.0.0.1", pacs_port), timeout=2,
        retry_delay=0.2))
    outbox = tmp_path / "store" / "outbox"
    received = []
    pacs = StorageSCP("PACS", pacs_port, InstanceStore(tmp_path / "pacs"), received.append,
                      allowed_aets=["SQUIDTEST"], host="127.0.0.1")
    node.start()
    try:
        me = DimseNode("SQUIDTEST", "127.0.0.1", node.scp.port)
        DimseClient("FRIEND", timeout=5).store(me, [DICOM / "dx_image.dcm"])
        assert node.wait_idle(60)
        time.sleep(1.0)  # a few failed attempts
        assert len(list(outbox.glob("*/*.dcm"))) == 2  # SC and SR kept for the next try
        pacs.start()
        assert _wait(lambda: len(received) == 2, 60)
        assert _wait(lambda: not list(outbox.glob("*/*.dcm")), 10)
    finally:
        pacs.stop()
        node.stop()
    classes = sorted(dcmread(r.path).SOPClassUID.name for r in received)
    assert classes == ["Comprehensive SR Storage", "Secondary Capture Image Storage"]


def test_node_restart_after_sigkill_analyses_each_instance_once(tiny_model, tmp_path):
    """SIGKILL mid-burst, restart, the sender re-sends what it had not seen acknowledged:
    every filed instance analysed exactly once, no half-written file (bench/node_burst.py)."""
    burst = _burst_module()
    args = argparse.Namespace(count=24, associations=3, kill_after=8, workers=1, threads=1,
                              timeout=120)
    assert burst.part_sigkill(tmp_path, tiny_model, args)


def test_a_peer_that_disappears_mid_transfer_leaves_nothing_half_written(tmp_path, caplog):
    import numpy as np
    from pydicom.uid import generate_uid

    caplog.set_level(logging.INFO)
    big = dcmread(DICOM / "dx_image.dcm")
    big.Rows, big.Columns = 2000, 2500  # 10 MB of pixels: hundreds of PDUs
    big.PixelData = (np.arange(2000 * 2500, dtype=np.uint16) % 4096).tobytes()
    big.SOPInstanceUID = big.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    big_path = tmp_path / "big.dcm"
    big.save_as(big_path)
    received = []
    store = InstanceStore(tmp_path / "in")
    scp = StorageSCP("SQUIDTEST", 0, store, received.append, allowed_aets=["FRIEND"],
                     host="127.0.0.1")
    scp.start()
    try:
        peer = subprocess.Popen([sys.executable, str(Path(__file__).parent / "slow_dicom_sender.py"),
                                 str(scp.port), str(big_path), "FRIEND", "SQUIDTEST"],
                                stdout=subprocess.PIPE)
        assert peer.stdout.readline().strip() == b"sending"
        time.sleep(0.5)
        peer.kill()  # gone mid-transfer
        peer.wait()
        assert _wait(lambda: "aborted" in caplog.text, 10)
        assert received == [] and list(store.root.iterdir()) == []  # not even a temp file
        # the node carries on: the next instance is filed
        DimseClient("FRIEND", timeout=5).store(DimseNode("SQUIDTEST", "127.0.0.1", scp.port),
                                               [DICOM / "dx_image.dcm"])
    finally:
        scp.stop()
    assert [r.path.name for r in received] == [p.name for p in store.root.iterdir()]
    assert "association from FRIEND at 127.0.0.1 aborted" in caplog.text


def test_squid_node_command_line_says_what_is_wrong(tiny_model, tmp_path, capsys):
    import socket

    from squid_core.cli import main

    base = ["node", "--ae-title", "SQUIDTEST", "--store", str(tmp_path / "s"),
            "--model", str(tiny_model)]
    with pytest.raises(SystemExit):  # neither --allow-ae nor --allow-any-ae
        main([*base, "--port", "0"])
    assert "--allow-ae" in capsys.readouterr().err
    assert main([*base, "--port", "0", "--allow-ae", "A", "--send-to", "PACS:104"]) == 2
    assert "expected AET@HOST:PORT" in capsys.readouterr().err
    assert main([*base, "--port", "0", "--allow-ae", "A", "--model", str(tmp_path / "x")]) == 2
    assert "no model file" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main([*base, "--port", str(port), "--host", "127.0.0.1", "--allow-ae", "A"])
    assert code == 1 and f"cannot listen on port {port}" in capsys.readouterr().err


def test_squid_node_over_dicom_tls(orthanc_tls, pki, tiny_model, tmp_path):
    """``squid node --tls-cert/--tls-key/--tls-ca --send-to-tls``: Orthanc moves a study to
    it over TLS (each side checks the other's certificate against the test CA), it analyses
    it and sends the SR back over TLS; a plain association to it reads clearly."""
    orthanc = orthanc_tls
    port = orthanc.modalities["SQUIDTEST"][1]
    store, log = tmp_path / "store", tmp_path / "node.log"
    cmd = [sys.executable, "-m", "squid_core", "node", "--ae-title", "SQUIDTEST",
           "--port", str(port), "--store", str(store), "--model", str(tiny_model),
           "--allow-ae", orthanc.aet, "--allow-ae", "SQUIDSCU", "--host", "127.0.0.1",
           "--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key),
           "--tls-ca", str(pki.ca), "--send-to-tls",
           "--send-to", f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}", "--timeout", "10"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        assert _wait(lambda: b"Ctrl-C stops it" in log.read_bytes(), 120), log.read_text()
        assert "with DICOM TLS" in log.read_text()
        node = DimseNode("SQUIDTEST", "127.0.0.1", port)
        with pytest.raises(NetworkError, match="expects DICOM TLS on that port"):
            DimseClient("SQUIDSCU", timeout=5, retries=0).echo(node)
        source = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
        orthanc.upload(DICOM / "dx_image.dcm")
        pacs = DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, tls=True,
                         tls_ca=str(pki.ca), tls_cert=str(pki.client_cert),
                         tls_key=str(pki.client_key))
        moved = DimseClient("SQUIDSCU", timeout=10).move(pacs, "SQUIDTEST",
                                                          str(source.StudyInstanceUID))
        assert (moved.completed, moved.failed) == (1, 0)
        assert _wait(lambda: len(orthanc.find_instances(Modality="SR")) == 1, 90), log.read_text()
        (row,) = read_rows(store / "results.csv")
        assert row["sop_instance_uid"] == source.SOPInstanceUID and row["status"] == "scored"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0 and "Traceback" not in log.read_text()


def test_squid_node_tls_options_say_what_is_missing(tiny_model, tmp_path, pki):
    for extra, message in ((["--send-to-tls"], "--send-to-tls needs --send-to"),
                           (["--tls-ca", str(pki.ca)], "--tls-ca alone does nothing"),
                           (["--tls-cert", str(pki.client_cert)], "give both or neither"),
                           (["--tls-cert", str(tmp_path / "none.pem"), "--tls-key",
                             str(pki.client_key)], "TLS certificate file not found")):
        done = subprocess.run([sys.executable, "-m", "squid_core", "node", "--ae-title", "T",
                               "--port", "0", "--store", str(tmp_path / "s"), "--model",
                               str(tiny_model), "--allow-any-ae", *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
