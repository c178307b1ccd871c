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


def _study_of_copies(orthanc, tmp_path: Path, count: int) -> tuple[str, set[str]]:
    """Upload ``count`` instances of one new study (copies of dx_image.dcm with new UIDs)
    over REST; returns (study UID, SOP Instance UIDs)."""
    from pydicom.uid import generate_uid

    study, series, uids = generate_uid(), generate_uid(), set()
    for i in range(count):
        ds = dcmread(DICOM / "dx_image.dcm")
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        path = tmp_path / f"copy{i}.dcm"
        ds.save_as(path)
        orthanc.upload(path)
        uids.add(str(ds.SOPInstanceUID))
    return str(study), uids


def test_dimse_get_retrieves_every_instance_of_a_study(orthanc, tmp_path):
    study_uid, uids = _study_of_copies(orthanc, tmp_path, 3)
    chest = _uploaded(orthanc)  # a JPEG one as well
    client = DimseClient("SQUIDSCU", timeout=10, retries=0)
    store = InstanceStore(tmp_path / "got")
    filed = []
    report = client.get(_pacs(orthanc), study_uid, store, on_filed=filed.append)
    assert (report.completed, report.failed, report.warning) == (3, 0, 0)
    assert {p.stem for p in report.files} == uids == {r.sop_instance_uid for r in filed}
    for path in report.files:
        assert read_image(path).pixels.shape == (169, 211)  # each one complete and readable
    assert not list(store.root.glob(".*"))  # no temporary file left

    jpeg_study = next(u for u, sop in chest.items() if sop.startswith("1.2.276"))
    series = client.find_series(_pacs(orthanc), jpeg_study)
    one = client.get(_pacs(orthanc), jpeg_study, store,
                     series_uid=str(series[0].SeriesInstanceUID))
    assert [p.stem for p in one.files] == [chest[jpeg_study]]
    assert read_image(one.files[0]).pixels.shape == (1024, 1024)

    # Through the archive, for a node that says retrieve "get": no Storage SCP of ours.
    from squid_core.net.remote_query import RemoteArchive

    node = DimseNode(orthanc.aet, "127.0.0.1", orthanc.dicom_port, retrieve="get")
    again = RemoteArchive(node, "SQUIDSCU").retrieve(study_uid, InstanceStore(tmp_path / "a"))
    assert {p.stem for p in again} == uids


def test_dimse_get_failures_read_clearly(orthanc, tmp_path):
    study_uid, _ = _study_of_copies(orthanc, tmp_path, 3)
    client = DimseClient("SQUIDSCU", timeout=10, retries=0)
    store = InstanceStore(tmp_path / "got")
    with pytest.raises(NetworkError, match=r"refused the C-GET of that study \(status 0xC000: "
                       r"unable to process; it may not hold that study"):
        client.get(_pacs(orthanc), "1.2.3.4.5.6.7", store)
    assert list(store.root.iterdir()) == []
    # Orthanc does not let this AE title retrieve (unknown to it).
    with pytest.raises(NetworkError, match="ORTHANC@127"):
        DimseClient("STRANGER", timeout=5, retries=0).get(_pacs(orthanc), study_uid, store)
    assert list(store.root.iterdir()) == []

    # Cancelled after the first instance: what arrived complete is kept, nothing else.
    import threading

    cancel = threading.Event()
    with pytest.raises(NetworkError, match="cancelled") as err:
        client.get(_pacs(orthanc), study_uid, store, on_filed=lambda _r: cancel.set(),
                   cancel=cancel)
    assert "complete instance(s) received before are kept" in str(err.value)
    kept = sorted(store.root.iterdir())
    assert 1 <= len(kept) < 3 and all(p.suffix == ".dcm" for p in kept)
    for path in kept:
        assert read_image(path).pixels.shape == (169, 211)


@pytest.mark.parametrize("failure", ["drops", "stalls"])
def test_dimse_get_from_a_pacs_that_goes_away_mid_transfer(tmp_path, caplog, failure):
    """A C-GET SCP (pynetdicom) that sends the first instance of three and then drops the
    connection, or says nothing more: the complete instance is filed, a retry files
    nothing twice, the message says what happened, and no partial or temporary file is
    left."""
    import socket

    from pydicom.uid import generate_uid
    from pynetdicom import AE, StoragePresentationContexts, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

    datasets = []
    for _ in range(3):
        ds = dcmread(DICOM / "dx_image.dcm")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        datasets.append(ds)

    def on_get(event):
        yield len(datasets)
        yield 0xFF00, datasets[0]
        if failure == "drops":
            event.assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)  # the PACS goes away
        else:
            time.sleep(3)  # past our timeout
        yield 0xFF00, datasets[1]

    ae = AE(ae_title="FLAKY")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for cx in StoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, scu_role=False, scp_role=True)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_C_GET, on_get)])
    try:
        node = DimseNode("FLAKY", "127.0.0.1", server.server_address[1])
        store = InstanceStore(tmp_path / "got")
        client = DimseClient("SQUIDSCU", timeout=2, retries=1, retry_delay=0.1)
        what = "went away during the C-GET" if failure == "drops" else \
            r"did not answer the C-GET within 2 s"
        with pytest.raises(NetworkError, match=rf"FLAKY@127\.0\.0\.1:\d+ {what}.*the 1 "
                           r"complete instance\(s\) received before are kept"):
            client.get(node, str(datasets[0].StudyInstanceUID), store)
    finally:
        server.shutdown()
    assert [p.name for p in store.root.iterdir()] == [f"{datasets[0].SOPInstanceUID}.dcm"]
    assert read_image(store.root / f"{datasets[0].SOPInstanceUID}.dcm").pixels.shape == (169, 211)
    assert "trying again" in caplog.text  # it was tried twice


def test_dimse_retries_reach_an_orthanc_that_comes_back(orthanc, caplog):
    """Orthanc stopped: the C-ECHO is tried again, and succeeds once it is back."""
    import threading

    pacs = _pacs(orthanc)
    orthanc.stop()
    with pytest.raises(NetworkError, match=r"cannot reach ORTHANC@127\.0\.0\.1:\d+: "
                       "connection refused"):
        DimseClient("SQUIDSCU", timeout=2, retries=0).echo(pacs)
    back = threading.Thread(target=orthanc.restart)
    back.start()
    try:
        # Tries at about 0, 1, 3, 7 and 15 s: Orthanc is back within one of those.
        DimseClient("SQUIDSCU", timeout=5, retries=4, retry_delay=1.0).echo(pacs)
    finally:
        back.join()
    assert "trying again" in caplog.text  # the first try failed, a later one succeeded


def test_an_ae_title_orthanc_does_not_know_is_refused_at_once(tmp_path):
    """With DicomCheckCalledAet and every DicomAlwaysAllow* off, Orthanc rejects the
    association of an unknown AE title: a permanent reject, not tried again."""
    import orthanc_server

    if orthanc_server.orthanc_binary() is None:
        pytest.skip("needs the orthanc and orthanc-dicomweb packages (apt-get install "
                    "orthanc orthanc-dicomweb)")
    server = orthanc_server.start_orthanc(
        tmp_path / "strict", {"SQUIDSCU": ("127.0.0.1", orthanc_server.free_port())},
        check_calling_aet=True)
    try:
        pacs = _pacs(server)
        client = DimseClient("STRANGER", timeout=5, retries=3, retry_delay=2.0)
        for call in (client.echo, client.find_studies):
            t0 = time.monotonic()
            with pytest.raises(NetworkError, match=r"ORTHANC@127\.0\.0\.1:\d+ rejected the "
                               r"association from STRANGER \(Rejected Permanent; Calling AE "
                               "title not recognised") as err:
                call(pacs)
            assert not err.value.transient and time.monotonic() - t0 < 2.0  # no retry
        DimseClient("SQUIDSCU", timeout=5, retries=0).echo(pacs)  # a known one is served
    finally:
        server.stop()


def test_orthanc_refusing_a_query_reads_as_such(orthanc):
    """Orthanc (default configuration) accepts an unknown AE title's association but aborts
    it on the C-FIND: that reads as a possible refusal, and it is tried again."""
    with pytest.raises(NetworkError, match="aborted the association on our C-FIND request "
                       "without answering: it may not allow STRANGER") as err:
        DimseClient("STRANGER", timeout=5, retries=0).find_studies(_pacs(orthanc))
    assert err.value.transient
