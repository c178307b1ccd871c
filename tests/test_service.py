"""The analysis service (queue, worker processes, events), results.csv and the instance store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from squid_core.display import OverlaySettings
from squid_core.exports.overlay import overlay_rgb
from squid_core.net.instance_store import InstanceStore, RefusedInstance
from squid_core.node.results_csv import ResultRow, ResultsCsv, read_rows
from squid_core.service import (
    PRIORITY_BACKGROUND,
    PRIORITY_VISIBLE,
    AnalysisService,
    Job,
    ModelSpec,
    ServiceError,
)
from squid_core.service.job_queue import JobQueue
from viewer._testsupport import tiny_model_file

DICOM = Path(__file__).parent / "data" / "dicom"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")


class Recorder:
    """Collects the service's events; ``wait(n)`` until n outcomes or cancels arrived."""

    def __init__(self, service: AnalysisService) -> None:
        self.events: list[tuple[str, object]] = []
        self._cond = threading.Condition()
        service.started.connect(lambda k: self._add("started", k))
        service.finished.connect(lambda o: self._add("finished", o))
        service.failed.connect(lambda o: self._add("failed", o))
        service.cancelled.connect(lambda k: self._add("cancelled", k))

    def _add(self, kind: str, payload: object) -> None:
        with self._cond:
            self.events.append((kind, payload))
            self._cond.notify_all()

    def done(self) -> list[tuple[str, object]]:
        return [e for e in self.events if e[0] != "started"]

    def wait(self, n: int, timeout: float = 60.0) -> list[tuple[str, object]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.done()) >= n, timeout), self.events
        return self.done()


def test_job_queue_priorities_fifo_and_cancel():
    q = JobQueue()
    for key, prio in [("a", 0), ("b", PRIORITY_BACKGROUND), ("c", 0), ("d", PRIORITY_VISIBLE)]:
        q.put(Job(key, f"/x/{key}", prio))
    q.put(Job("b", "/x/b", PRIORITY_VISIBLE + 1))  # the user looks at b now
    assert q.cancel("c") and not q.cancel("zz")
    assert [q.get(0).key for _ in range(3)] == ["b", "d", "a"]
    assert q.get(0.01) is None
    q.close()
    assert not q.put(Job("e", "/x/e"))


def test_service_scores_reports_errors_and_exports(tiny_model, tmp_path):
    service = AnalysisService(ModelSpec(str(tiny_model)))
    rec = Recorder(service)
    with service:
        assert service.model_info["model_name"] == "tiny-test"
        service.submit(Job("dx", str(DICOM / "dx_image.dcm"), export_dir=str(tmp_path / "out"),
                           keep_arrays=False))
        service.submit(Job("plan", str(DICOM / "rtplan.dcm")))
        service.submit(Job("chest", str(DICOM / "SIIM_CR_chest.dcm")))
        outcomes = {o.key: (kind, o) for kind, o in rec.wait(3)}
    kind, dx = outcomes["dx"]
    assert kind == "finished" and dx.status == "scored" and 0 <= dx.result.score <= 100
    assert dx.result.heatmap.size == 0  # arrays left in the worker when not wanted
    src = dcmread(DICOM / "dx_image.dcm", stop_before_pixels=True)
    assert dx.source.sop_instance_uid == src.SOPInstanceUID
    sc, sr = (dcmread(p) for p in dx.exports)
    assert sc.StudyInstanceUID == sr.StudyInstanceUID == src.StudyInstanceUID
    assert sc.pixel_array.shape == (src.Rows, src.Columns, 3)
    kind, plan = outcomes["plan"]
    assert kind == "failed" and plan.status == "error" and "unreadable" in plan.reason
    kind, chest = outcomes["chest"]
    assert kind == "finished" and chest.result.heatmap.shape == (1024, 1024)


def test_service_cancel_timeout_and_a_new_worker(tiny_model):
    service = AnalysisService(ModelSpec(str(tiny_model)), job_timeout=0.0)
    rec = Recorder(service)
    service.start()
    try:
        first_pid = service.model_info["pid"]
        service.submit(Job("slow", str(DICOM / "dx_image.dcm")))
        (kind, outcome), = rec.wait(1)
        assert kind == "failed" and "took longer than 0 s" in outcome.reason
        service.job_timeout = 60.0
        gate = threading.Event()
        service.started.connect(lambda k: gate.wait(10) if k == "first" else None)
        service.submit(Job("first", str(DICOM / "dx_image.dcm")))
        while "first" in service.queue:  # the dispatcher holds it (waits on the gate)
            time.sleep(0.01)
        service.submit(Job("queued", str(DICOM / "dx_image.dcm")))
        assert service.cancel("queued")
        assert service.cancel("first")  # running: its outcome will be discarded
        gate.set()
        service.submit(Job("after", str(DICOM / "dx_image.dcm")))
        events = rec.wait(4)
    finally:
        service.stop()
    assert events[1:] == [("cancelled", "queued"), ("cancelled", "first")] + events[3:]
    kind, after = events[3]
    # the worker that overran was killed; a new one (another process) scored "after"
    assert kind == "finished" and after.key == "after" and after.status == "scored"
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)


def test_service_refuses_to_start_without_a_model(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ServiceError, match="cannot load the model"):
        AnalysisService(ModelSpec(str(bad)), start_timeout=120).start()


def _row(uid: str, status: str = "scored") -> ResultRow:
    return ResultRow(uid, "1.2.3", "12.5000", "no", status, "", "t0", "t1")


def test_results_csv_appends_once_and_repairs_a_torn_line(tmp_path):
    path = tmp_path / "results.csv"
    results = ResultsCsv(path)
    assert results.append(_row("1.2.1")) and results.append(_row("1.2.2", "error"))
    assert not results.append(_row("1.2.1"))  # one row per instance
    results.close()
    with open(path, "ab") as fh:  # a process killed in the middle of a row
        fh.write(b"1.2.3,1.2.3,40.0")
    reopened = ResultsCsv(path)
    assert "1.2.1" in reopened and "1.2.2" in reopened and "1.2.3" not in reopened
    assert reopened.append(_row("1.2.3"))
    reopened.close()
    rows = read_rows(path)
    assert [r["sop_instance_uid"] for r in rows] == ["1.2.1", "1.2.2", "1.2.3"]
    assert rows[1]["status"] == "error" and rows[2]["score"] == "12.5000"


def test_instance_store_guards_and_atomic_filing(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / ".1.2.3.dcm.abc.tmp").write_bytes(b"half")  # left by a kill
    store = InstanceStore(tmp_path / "in", max_bytes=200_000)
    assert not list(store.root.glob(".*"))
    data = (DICOM / "dx_image.dcm").read_bytes()
    ds = dcmread(DICOM / "dx_image.dcm")
    for bad in ("../../etc/passwd", "1.2.3/4", "", "1." + "2" * 70):
        with pytest.raises(RefusedInstance, match="invalid SOP Instance UID"):
            store.put(bad, data, ds)
    big = dcmread(DICOM / "dx_image.dcm")
    big.Rows, big.Columns, big.NumberOfFrames = 65535, 65535, 100
    with pytest.raises(RefusedInstance, match="image too large"):
        store.put(str(big.SOPInstanceUID), data, big)
    with pytest.raises(RefusedInstance, match="instance too large"):
        store.put(str(ds.SOPInstanceUID), data * 10, ds)
    assert list(store.root.iterdir()) == []
    path, new = store.put(str(ds.SOPInstanceUID), data, ds)
    assert new and path.read_bytes() == data
    assert store.put(str(ds.SOPInstanceUID), b"other", ds) == (path, False)
    assert path.read_bytes() == data and store.uids() == [str(ds.SOPInstanceUID)]


def test_overlay_rgb_blends_the_heatmap_above_its_threshold():
    pixels = np.full((4, 4), 0.5, np.float32)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 6.0
    rgb = overlay_rgb(pixels, heat, 6.0, OverlaySettings(threshold=2.0, opacity=1.0))
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert (rgb[1:, 1:] == 128).all()  # below the threshold: the grey original
    assert tuple(rgb[0, 0]) != (128, 128, 128) and rgb[0, 0, 0] > rgb[0, 0, 2]  # inferno top


def test_results_csv_on_a_full_disk_writes_no_partial_row(tiny_filesystem, fill_filesystem):
    results = ResultsCsv(tiny_filesystem / "results.csv")
    assert results.append(_row("1.2.1"))
    filler = fill_filesystem(tiny_filesystem)
    long_row = ResultRow("1.2.2", "1.2.3", "", "", "error", "x" * 10000, "t0", "t1")
    with pytest.raises(OSError):  # more than the file's last page can take
        results.append(long_row)
    assert "1.2.2" not in results
    filler.unlink()
    assert results.append(_row("1.2.3"))
    results.close()
    rows = read_rows(tiny_filesystem / "results.csv")
    assert [r["sop_instance_uid"] for r in rows] == ["1.2.1", "1.2.3"]
