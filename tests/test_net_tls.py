"""DICOM TLS against a real Orthanc whose DICOM port speaks only TLS (certificates made
at test time, tests/tls_certs.py): C-ECHO, C-FIND, C-STORE, C-GET and C-MOVE back to our
Storage SCP listening with TLS; and how each TLS failure reads."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from squid_core.io import read_image
from squid_core.net import NetworkError
from squid_core.net.dimse_client import DimseClient
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DimseNode
from squid_core.net.storage_scp import StorageSCP
from squid_core.net.tls import TlsFiles

DICOM = Path(__file__).parent / "data" / "dicom"


def _node(orthanc, pki, *, ca=None, client_cert=True, tls=True) -> DimseNode:
    if not tls:
        return DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
    return DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, tls=True,
                     tls_ca=str(ca or pki.ca),
                     tls_cert=str(pki.client_cert) if client_cert else "",
                     tls_key=str(pki.client_key) if client_cert else "")


def _copy_with_new_uid(source: Path, folder: Path) -> tuple[Path, str]:
    ds = dcmread(source)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = folder / "copy.dcm"
    ds.save_as(out)
    return out, str(ds.SOPInstanceUID)


def test_echo_find_store_get_and_move_over_tls(orthanc_tls, pki, tmp_path):
    orthanc = orthanc_tls
    pacs = _node(orthanc, pki)
    client = DimseClient("SQUIDSCU", timeout=10, retries=0)
    client.echo(pacs)

    # C-STORE over TLS: Orthanc has it afterwards.
    copy, sop_uid = _copy_with_new_uid(DICOM / "dx_image.dcm", tmp_path)
    report = client.store(pacs, [copy])
    assert report.sent == [copy] and not report.refused
    assert orthanc.find_instances(SOPInstanceUID=sop_uid)

    # C-FIND over TLS finds it.
    study_uid = str(dcmread(copy, stop_before_pixels=True).StudyInstanceUID)
    found = client.find_studies(pacs, StudyInstanceUID=study_uid)
    assert [str(d.StudyInstanceUID) for d in found] == [study_uid]

    # C-GET over TLS: back on the same association, filed and readable.
    store = InstanceStore(tmp_path / "got")
    got = client.get(pacs, study_uid, store)
    assert (got.completed, got.failed, [f.stem for f in got.files]) == (1, 0, [sop_uid])
    assert read_image(got.files[0]).meta.sop_instance_uid == sop_uid

    # C-MOVE: Orthanc calls our Storage SCP with TLS (it presents its certificate, which
    # our SCP checks against the CA; our SCP presents ours, which Orthanc checks).
    ours = TlsFiles(str(pki.ca), str(pki.client_cert), str(pki.client_key))
    host, port = orthanc.modalities["SQUIDTEST"]
    moved = []
    scp = StorageSCP("SQUIDTEST", port, InstanceStore(tmp_path / "moved"), moved.append,
                     allowed_aets=[orthanc.aet], host=host, tls=ours)
    scp.start()
    try:
        # Our SCP speaks only TLS: a plain association to it is refused, and says why.
        with pytest.raises(NetworkError, match="expects DICOM TLS on that port"):
            DimseClient(orthanc.aet, timeout=5, retries=0).echo(
                DimseNode("SQUIDTEST", host, scp.port))
        report = client.move(pacs, "SQUIDTEST", study_uid)
    finally:
        scp.stop()
    assert (report.completed, report.failed) == (1, 0)
    assert [r.sop_instance_uid for r in moved] == [sop_uid]
    assert read_image(moved[0].path).meta.sop_instance_uid == sop_uid


def test_tls_failures_read_clearly(orthanc_tls, pki, tmp_path, caplog, capfd):
    orthanc = orthanc_tls
    uid = str(dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True).StudyInstanceUID)
    orthanc.upload(DICOM / "dx_image.dcm")
    client = DimseClient("SQUIDSCU", timeout=5, retries=2, retry_delay=1.0)
    caplog.set_level(logging.INFO)

    # We do not trust the certificate Orthanc presents (another CA): no retry (it cannot
    # help), a sentence that says what to check, and nothing filed.
    store = InstanceStore(tmp_path / "got")
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match=r"TLS handshake with ORTHANC@127\.0\.0\.1:\d+ "
                       r"failed: certificate not trusted .*CA certificate") as err:
        client.get(_node(orthanc, pki, ca=pki.other_ca), uid, store)
    assert not err.value.transient and time.monotonic() - t0 < 1.0
    assert list(store.root.iterdir()) == []

    # Orthanc wants our certificate and we have none.
    with pytest.raises(NetworkError, match="failed: it requires a client certificate"):
        client.echo(_node(orthanc, pki, client_cert=False))

    # A plain association to Orthanc's TLS port.
    with pytest.raises(NetworkError, match="expects DICOM TLS on that port and refused a "
                       "plain association: turn TLS on for this node"):
        client.find_studies(_node(orthanc, pki, tls=False))

    # A CA file that is not there.
    node = DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, tls=True,
                     tls_ca=str(tmp_path / "missing.pem"))
    with pytest.raises(NetworkError, match="TLS CA certificate file not found"):
        client.echo(node)

    # None of this printed or logged a traceback.
    out, errors = capfd.readouterr()
    assert "Traceback" not in out + errors
    assert not [r for r in caplog.records if r.exc_info]
    assert "Traceback" not in caplog.text


def test_our_tls_scp_refuses_a_caller_without_a_trusted_certificate(pki, tmp_path, caplog):
    ours = TlsFiles(str(pki.ca), str(pki.client_cert), str(pki.client_key))
    scp = StorageSCP("SQUIDTEST", 0, InstanceStore(tmp_path / "in"), None,
                     allowed_aets=["CALLER"], host="127.0.0.1", tls=ours)
    scp.start()
    caplog.set_level(logging.WARNING, logger="squid_core.net.tls")
    try:
        client = DimseClient("CALLER", timeout=5, retries=0)
        here = DimseNode("SQUIDTEST", "127.0.0.1", scp.port, tls=True, tls_ca=str(pki.ca))
        with pytest.raises(NetworkError, match="requires a client certificate"):
            client.echo(here)  # no certificate of ours
        client.echo(DimseNode("SQUIDTEST", "127.0.0.1", scp.port, tls=True,
                              tls_ca=str(pki.ca), tls_cert=str(pki.client_cert),
                              tls_key=str(pki.client_key)))
    finally:
        scp.stop()
    assert "TLS handshake from 127.0.0.1" in caplog.text  # the refusal is logged

    # An SCP whose certificate (signed by the right CA) is for another host name.
    scp = StorageSCP("SQUIDTEST", 0, InstanceStore(tmp_path / "in"), None,
                     allowed_aets=["CALLER"], host="127.0.0.1",
                     tls=TlsFiles(cert=str(pki.elsewhere_cert), key=str(pki.elsewhere_key)))
    scp.start()
    try:
        with pytest.raises(NetworkError, match=r"its certificate is not for 127\.0\.0\.1"):
            client.echo(DimseNode("SQUIDTEST", "127.0.0.1", scp.port, tls=True,
                                  tls_ca=str(pki.ca)))
    finally:
        scp.stop()


def test_a_silent_caller_does_not_hold_up_our_tls_scp(pki, tmp_path):
    """The SCP shakes hands in its accepting thread: a caller that connects and says
    nothing is dropped after the SCP's timeout, and the next caller is served."""
    import socket

    ours = TlsFiles(str(pki.ca), str(pki.client_cert), str(pki.client_key))
    scp = StorageSCP("SQUIDTEST", 0, InstanceStore(tmp_path / "in"), None,
                     allowed_aets=["CALLER"], host="127.0.0.1", tls=ours, timeout=1.5)
    scp.start()
    try:
        with socket.create_connection(("127.0.0.1", scp.port)):
            time.sleep(0.2)  # accepted, handshake pending
            t0 = time.monotonic()
            DimseClient("CALLER", timeout=6, retries=0).echo(
                DimseNode("SQUIDTEST", "127.0.0.1", scp.port, tls=True, tls_ca=str(pki.ca),
                          tls_cert=str(pki.client_cert), tls_key=str(pki.client_key)))
            assert time.monotonic() - t0 < 5
    finally:
        scp.stop()


def test_tls_files_say_what_is_wrong(pki, tmp_path):
    with pytest.raises(ValueError, match="give both or neither"):
        TlsFiles(str(pki.ca), str(pki.client_cert), "")
    with pytest.raises(ValueError, match="needs a certificate and its private key"):
        TlsFiles(str(pki.ca)).server_context()
    with pytest.raises(ValueError, match="cannot use the TLS certificate"):
        TlsFiles(str(pki.ca), str(pki.client_cert), str(pki.server_key)).client_context()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot read the TLS CA certificate"):
        TlsFiles(str(garbage)).client_context()
