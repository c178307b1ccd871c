"""The networking layer against a real Orthanc: DIMSE (C-ECHO, C-FIND, C-MOVE, C-STORE) and
DICOMweb (QIDO-RS, WADO-RS, STOW-RS), and how failures read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydicom import dcmread

from squid_core.io import read_image
from squid_core.net import NetworkError
from squid_core.net.dicomweb import DicomWebClient
from squid_core.net.dimse_client import DimseClient
from squid_core.net.instance_store import InstanceStore
from squid_core.net.nodes import DicomWebNode, DimseNode
from squid_core.net.storage_scp import StorageSCP

DICOM = Path(__file__).parent / "data" / "dicom"
SOURCES = ("dx_image.dcm", "SIIM_CR_chest.dcm")


def _pacs(orthanc) -> DimseNode:
    return DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port)


def _uploaded(orthanc) -> dict[str, str]:
    """Upload the sources over REST; returns study UID -> SOP Instance UID."""
    studies = {}
    for name in SOURCES:
        orthanc.upload(DICOM / name)
        ds = dcmread(DICOM / name, stop_before_pixels=True)
        studies[str(ds.StudyInstanceUID)] = str(ds.SOPInstanceUID)
    return studies


def test_dimse_echo_find_and_move_into_our_storage_scp(orthanc, tmp_path):
    studies = _uploaded(orthanc)
    client = DimseClient("SQUIDSCU", timeout=10, retries=0)
    pacs = _pacs(orthanc)
    client.echo(pacs)

    found = client.find_studies(pacs)
    assert {str(d.StudyInstanceUID) for d in found} == set(studies)
    chest = next(d for d in found if str(d.StudyInstanceUID) in studies
                 and studies[str(d.StudyInstanceUID)].startswith("1.2.276"))
    series = client.find_series(pacs, str(chest.StudyInstanceUID))
    assert len(series) == 1 and series[0].SeriesInstanceUID
    assert client.find_studies(pacs, StudyInstanceUID="1.2.3.4.5.6.7") == []

    store = InstanceStore(tmp_path / "received")
    received = []
    host, port = orthanc.modalities["SQUIDTEST"]
    scp = StorageSCP("SQUIDTEST", port, store, received.append, allowed_aets=[orthanc.aet],
                     host=host)
    scp.start()
    try:
        report = client.move(pacs, "SQUIDTEST", str(chest.StudyInstanceUID))
    finally:
        scp.stop()
    assert (report.completed, report.failed) == (1, 0)
    assert [r.sop_instance_uid for r in received] == [studies[str(chest.StudyInstanceUID)]]
    image = read_image(received[0].path)  # the normal reader decodes what arrived
    assert image.pixels.shape == (1024, 1024)
    assert not list(store.root.glob(".*"))  # no temporary file left


def test_dimse_failures_read_clearly(orthanc):
    pacs = _pacs(orthanc)
    # Orthanc does not know this calling AE title: it refuses the query.
    with pytest.raises(NetworkError, match=r"ORTHANC@127\.0\.0\.1:\d+"):
        DimseClient("STRANGER", timeout=5, retries=0).find_studies(pacs)
    # Nobody listens on this port: tried again, then a sentence saying so.
    closed = DimseNode("NOBODY", "127.0.0.1", orthanc.modalities["SQUIDTEST"][1])
    client = DimseClient("SQUIDSCU", timeout=2, retries=1, retry_delay=0.1)
    t0 = time.monotonic()
    with pytest.raises(NetworkError, match="cannot reach NOBODY@127.0.0.1") as err:
        client.echo(closed)
    assert err.value.transient
    assert time.monotonic() - t0 >= 0.1  # it did wait and try again
    # C-MOVE to a destination Orthanc does not know.
    with pytest.raises(NetworkError, match="move destination|refused the C-MOVE"):
        client.move(pacs, "UNKNOWNDEST", "1.2.3.4")


def test_dicomweb_search_retrieve_and_store(orthanc, tmp_path):
    studies = _uploaded(orthanc)
    web = DicomWebClient(DicomWebNode(orthanc.dicomweb_url), timeout=10, retries=0)
    found = web.search_studies()
    assert {s["0020000D"]["Value"][0] for s in found} == set(studies)
    study_uid = next(u for u, sop in studies.items() if not sop.startswith("1.2.276"))
    assert len(web.search_series(study_uid)) == 1

    store = InstanceStore(tmp_path / "web")
    files, refused = web.retrieve_study(study_uid, store)
    assert refused == {} and [f.stem for f in files] == [studies[study_uid]]
    assert read_image(files[0]).meta.sop_instance_uid == studies[study_uid]
    again, _ = web.retrieve_study(study_uid, store)  # a retry keeps what is there
    assert again == files

    # STOW-RS a new instance (a copy with a new SOP Instance UID) and find it by QIDO-RS.
    from pydicom.uid import generate_uid

    ds = dcmread(files[0])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    copy = tmp_path / "copy.dcm"
    ds.save_as(copy)
    web.store([copy])
    assert orthanc.find_instances(SOPInstanceUID=str(ds.SOPInstanceUID))


def test_dicomweb_failures_read_clearly(orthanc):
    web = DicomWebClient(DicomWebNode(orthanc.url + "/no-such-root"), timeout=5, retries=0)
    with pytest.raises(NetworkError, match="HTTP 404"):
        web.search_studies()
    gone = DicomWebClient(DicomWebNode(f"http://127.0.0.1:{orthanc.modalities['SQUIDTEST'][1]}"),
                          timeout=2, retries=1, retry_delay=0.05)
    with pytest.raises(NetworkError, match="cannot reach") as err:
        gone.search_studies()
    assert err.value.transient
