"""Burst: ``squid node`` under concurrent C-STOREs, then killed with SIGKILL mid-burst.

Part 1 sends ``--count`` distinct instances (copies of small test DICOMs, each with its
own SOP Instance UID, a few studies) over ``--associations`` concurrent associations to
a ``squid node`` subprocess and waits until ``results.csv`` has a row for each. It
checks that none is lost and each is scored once, and prints the received-to-scored
throughput and latency (``received_at`` = when the instance was filed, ``analysed_at``
= when its row was written; both in ``results.csv``).

Part 2 starts a fresh node, sends the same kind of burst and kills the node with
SIGKILL once ``--kill-after`` instances were acknowledged; it restarts the node, sends
again what the sender had not seen acknowledged (as a PACS retries), and checks that
every instance the node has filed is analysed exactly once, that there is no
half-written file, and that nothing acknowledged was lost. Usage::

    python bench/node_burst.py [--count 200] [--associations 4] [--model FILE]
        [--kill-after 80] [--workers 1] [--threads 1]

Without ``--model`` the bundled model is used; ``--tiny`` uses the small test model
(viewer/_testsupport.py) to measure the node's own overhead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from squid_core.node import results_csv  # noqa: E402 - after the path set-up

DICOM = ROOT / "tests" / "data" / "dicom"
SOURCES = ("dx_image.dcm", "SIIM_CR_chest.dcm")
NODE_AET = "SQUIDNODE"
SENDER_AET = "BURST"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_instances(folder: Path, count: int, studies: int = 10) -> list[Path]:
    """``count`` distinct DICOM files: the test sources with fresh SOP/series/study UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = [dcmread(DICOM / name) for name in SOURCES]
    study_uids = [generate_uid() for _ in range(studies)]
    paths = []
    for i in range(count):
        ds = bases[i % len(bases)]
        ds.StudyInstanceUID = study_uids[i % studies]
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"{i:05d}.dcm"
        ds.save_as(path)
        paths.append(path)
    return paths


def start_node(store: Path, port: int, model: Path, *, workers: int = 1, threads: int = 1,
               extra: tuple[str, ...] = (), log: Path | None = None) -> subprocess.Popen:
    """``squid node`` as a subprocess; returns once it listens."""
    log = log or store.parent / f"{store.name}.log"
    cmd = [sys.executable, "-m", "squid_core", "node", "--ae-title", NODE_AET,
           "--port", str(port), "--store", str(store), "--model", str(model),
           "--allow-ae", SENDER_AET, "--host", "127.0.0.1", "--workers", str(workers),
           "--threads", str(threads), *extra]
    offset = log.stat().st_size if log.exists() else 0
    fh = open(log, "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    end = time.monotonic() + 300
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"squid node exited ({proc.returncode}):\n{log.read_text()[-2000:]}")
        if b"Ctrl-C stops it" in log.read_bytes()[offset:]:
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("squid node did not start within 300 s")


def burst(paths: list[Path], port: int, associations: int,
          stop_after: int | None = None) -> dict[Path, float]:
    """C-STORE ``paths`` over ``associations`` concurrent associations.

    Returns path -> time the success status arrived, for every acknowledged instance.
    With ``stop_after``, returns as soon as that many were acknowledged (the other
    senders keep going until their association fails).
    """
    contexts = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                for ds in (dcmread(DICOM / n, stop_before_pixels=True) for n in SOURCES)}
    acked: dict[Path, float] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def sender(chunk: list[Path]) -> None:
        ae = AE(ae_title=SENDER_AET)
        for sop_class, syntax in contexts:
            ae.add_requested_context(sop_class, syntax)  # one context per transfer syntax
        assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
        if not assoc.is_established:
            return
        try:
            for path in chunk:
                status = assoc.send_c_store(path)
                if not assoc.is_established or "Status" not in status:
                    return
                if int(status.Status) == 0:
                    with lock:
                        acked[path] = time.time()
                        if stop_after is not None and len(acked) >= stop_after:
                            enough.set()
        finally:
            if assoc.is_established:
                assoc.release()

    threads = [threading.Thread(target=sender, args=(paths[i::associations],), daemon=True)
               for i in range(associations)]
    for t in threads:
        t.start()
    if stop_after is not None:
        enough.wait(600)
        with lock:
            return dict(acked)
    for t in threads:
        t.join()
    return acked


def read_rows(store: Path) -> list[dict[str, str]]:
    path = store / "results.csv"
    return results_csv.read_rows(path) if path.exists() else []


def wait_rows(store: Path, count: int, timeout: float) -> list[dict[str, str]]:
    end = time.monotonic() + timeout
    rows = read_rows(store)
    while len(rows) < count and time.monotonic() < end:
        time.sleep(0.2)
        rows = read_rows(store)
    return rows


def stop_node(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


def leftovers(store: Path) -> list[Path]:
    """Temporary files (half-written instances or rows) anywhere in the store."""
    return [p for p in store.rglob(".*") if p.is_file()]


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def part_throughput(work: Path, model: Path, args: argparse.Namespace) -> bool:
    paths = make_instances(work / "burst", args.count)
    uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}
    store, port = work / "store1", free_port()
    proc = start_node(store, port, model, workers=args.workers, threads=args.threads)
    t0 = time.time()
    acked = burst(paths, port, args.associations)
    t_sent = time.time()
    rows = wait_rows(store, len(paths), timeout=args.timeout)
    t_done = time.time()
    code = stop_node(proc)
    counts = {}
    for r in rows:
        counts[r["sop_instance_uid"]] = counts.get(r["sop_instance_uid"], 0) + 1
    latency = sorted(_ts(r["analysed_at"]) - _ts(r["received_at"]) for r in rows)
    first_in = min(_ts(r["received_at"]) for r in rows)
    last_out = max(_ts(r["analysed_at"]) for r in rows)
    statuses = {s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}}
    print(f"part 1: {len(paths)} C-STOREs over {args.associations} associations: "
          f"{len(acked)} acknowledged in {t_sent - t0:.1f} s "
          f"({len(acked) / (t_sent - t0):.1f} instances/s received)")
    print(f"  rows: {len(rows)} for {len(counts)} instances, statuses {statuses}; "
          f"lost: {len(uids - set(counts))}; scored more than once: "
          f"{sum(c > 1 for c in counts.values())}")
    print(f"  received-to-scored: {len(rows) / (last_out - first_in):.2f} images/s "
          f"(first received to last scored {last_out - first_in:.1f} s; all rows "
          f"{t_done - t0:.1f} s after the first send)")
    print(f"  latency received->scored: median {statistics.median(latency):.2f} s, "
          f"p95 {latency[int(0.95 * (len(latency) - 1))]:.2f} s, max {latency[-1]:.2f} s "
          "(queueing included: the burst arrives faster than it is scored)")
    print(f"  node exit code after Ctrl-C (SIGINT): {code}; temporary files left: "
          f"{len(leftovers(store))}")
    return (len(acked) == len(paths) and set(counts) == uids
            and all(c == 1 for c in counts.values()) and code == 0 and not leftovers(store))


def part_sigkill(work: Path, model: Path, args: argparse.Namespace) -> bool:
    paths = make_instances(work / "kill", args.count)
    by_uid = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in paths}
    store, port = work / "store2", free_port()
    proc = start_node(store, port, model, workers=args.workers, threads=args.threads)
    acked = burst(paths, port, args.associations, stop_after=args.kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # let the senders notice
    rows_before = read_rows(store)
    filed = sorted(p.stem for p in (store / "instances").glob("*.dcm"))
    temp = leftovers(store)
    print(f"part 2: SIGKILL after {len(acked)} acknowledged C-STOREs: {len(filed)} instances "
          f"filed, {len(rows_before)} analysed before the kill, temporary files "
          f"left by the kill: {len(temp)}")
    broken = []
    for uid in filed:
        try:
            dcmread(store / "instances" / f"{uid}.dcm")
        except Exception:  # noqa: BLE001 - counting damaged files
            broken.append(uid)
    proc = start_node(store, port, model, workers=args.workers, threads=args.threads)
    acked_uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in acked}
    resend = [p for uid, p in by_uid.items() if uid not in acked_uids]
    again = burst(resend, port, args.associations)
    rows = wait_rows(store, len(paths), timeout=args.timeout)
    code = stop_node(proc)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["sop_instance_uid"]] = counts.get(r["sop_instance_uid"], 0) + 1
    filed_after = {p.stem for p in (store / "instances").glob("*.dcm")}
    print(f"  restarted, re-sent {len(resend)} unacknowledged ({len(again)} acknowledged); "
          f"damaged files after the kill: {len(broken)}; temporary files now: "
          f"{len(leftovers(store))}")
    print(f"  instances filed {len(filed_after)}, rows {len(rows)}, analysed exactly once: "
          f"{sum(c == 1 for c in counts.values())}, more than once: "
          f"{sum(c > 1 for c in counts.values())}, filed but never analysed: "
          f"{len(filed_after - set(counts))}, acknowledged before the kill but lost: "
          f"{len(acked_uids - filed_after)}; exit code {code}")
    return (not broken and set(counts) == filed_after == set(by_uid)
            and all(c == 1 for c in counts.values()) and not leftovers(store) and code == 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--associations", type=int, default=4)
    p.add_argument("--kill-after", type=int, default=None,
                   help="acknowledged C-STOREs before the SIGKILL (default: count / 2)")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--tiny", action="store_true", help="use the small test model")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds to wait for all rows (default 1800)")
    args = p.parse_args(argv)
    args.kill_after = args.kill_after or max(1, args.count // 2)
    with tempfile.TemporaryDirectory(prefix="node_burst_") as tmp:
        work = Path(tmp)
        if args.tiny:
            from viewer._testsupport import tiny_model_file

            model = tiny_model_file(work / "tiny.safetensors")
        else:
            model = args.model or ROOT / "resources" / "models" / "default.safetensors"
        print(f"model: {model if not args.tiny else 'tiny test model'}; workers "
              f"{args.workers} x {args.threads} torch thread(s); cores {os.cpu_count()}")
        ok1 = part_throughput(work, model, args)
        ok2 = part_sigkill(work, model, args)
    print("PASS" if ok1 and ok2 else "FAIL")
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
