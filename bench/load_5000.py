"""Load: a folder of thousands of images open, "Analyse all" running.

Builds a folder of ``--count`` images in a temporary directory (hard links to the PNG
and JPEG files of ``tests/data/images``, and copies of small DICOMs of
``tests/data/dicom`` rewritten with their own SOP Instance UID, so every file is a
distinct instance), opens it in a real MainWindow as File > Open folder does, loads the
model (default: the bundled ``resources/models/default.safetensors``) and runs
"Analyse all". It measures

* the longest gap between ticks of a 10 ms QTimer (the longest event-loop stall), while
  the folder is opened and while the analysis runs,
* the peak resident memory of the viewer process (``getrusage``) and the largest sum of
  resident memory of the viewer and its helper processes (sampled from ``/proc``),
* how many images were scored, and how fast.

``--limit-seconds S`` cancels the analysis after S seconds (the cancel is part of what is
measured). Usage::

    QT_QPA_PLATFORM=offscreen python bench/load_5000.py [--count 5000] [--limit-seconds 120]
        [--model FILE] [--device cpu]

Found with it (PySide6/shiboken6 6.12.0, Python 3.11): every call of a Qt method that
returns nothing drops one reference to ``None``; filling the browser with 5,000 rows
makes ``None``'s count reach zero and the process aborts ("Fatal Python error:
none_dealloc"). pyproject.toml therefore excludes 6.12; the bench prints ``None``'s
reference count at the start and the end, so a regression shows.

Also found with it (``--stall-traces``, and timing the slots): the stalls of "Analyse all"
(at commit 4a4c447: 156 ms with ``--count 1000``, 1.5 s with 5000) came mostly from the
study browser, which re-hid every row of the list on each changed score (thousands
of ``setRowHidden`` calls per batch of scores), not only from the model sharing the
viewer's process; the browser now tells the view only of rows that change, and the model
runs in the analysis service's worker process.

And (at commit 3afd324, after the Qt-free session: analysis stall 103-206 ms): the
longest stalls were full garbage collections, 70-100 ms each over the ~190,000 objects
that exist once the window is built (the viewer now freezes them, see
``viewer/garbage_collection.py``), on top of the progress bar's ``setValue``, which
repainted the window at once for every result (it now shows the latest count every
100 ms).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RASTERS = ("NIH_00027426_000.png", "TBX11K_h0001.png", "zhanglab_NORMAL_IM-0115-0001.jpeg",
           "zhanglab_PNEUMONIA_person1000_bacteria_2931.jpeg")
DICOMS = ("SIIM_CR_chest.dcm", "dx_image.dcm", "JPEGBaseline_1s_1f_u_08_08.dcm")


def build_folder(folder: Path, count: int) -> None:
    """``count`` images in ``folder``: hard links to rasters, re-identified DICOM copies."""
    import pydicom
    from pydicom.uid import generate_uid

    data = ROOT / "tests" / "data"
    dicoms = [pydicom.dcmread(data / "dicom" / name) for name in DICOMS]
    sources = [("raster", data / "images" / name) for name in RASTERS]
    sources += [("dicom", ds) for ds in dicoms]
    for i in range(count):
        kind, src = sources[i % len(sources)]
        sub = folder / f"batch_{i // 500:02d}"
        sub.mkdir(exist_ok=True)
        if kind == "raster":
            target = sub / f"img_{i:05d}{src.suffix}"
            try:
                os.link(src, target)
            except OSError:
                shutil.copyfile(src, target)
        else:
            src.SOPInstanceUID = generate_uid()
            src.file_meta.MediaStorageSOPInstanceUID = src.SOPInstanceUID
            src.save_as(sub / f"img_{i:05d}.dcm")


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def tree_rss_kib() -> int:
    """Resident memory of this process and all its descendants, in KiB."""
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += _rss_kib(pid)
        todo += _children(pid)
    return total


class StallWatch(threading.Thread):
    """Samples the GUI thread's Python stack while its timer is late, to show where a
    stall comes from (the innermost frames of our code, counted per stall)."""

    def __init__(self, ticks: list[float], threshold_s: float) -> None:
        super().__init__(daemon=True)
        self.ticks, self.threshold = ticks, threshold_s
        self.gui = threading.main_thread().ident

    def run(self) -> None:
        reported = 0.0
        samples: Counter[str] = Counter()
        while True:
            time.sleep(0.005)
            last = self.ticks[-1] if self.ticks else None
            if last is None:
                continue
            late = time.perf_counter() - last
            if late > self.threshold:
                frame = sys._current_frames().get(self.gui)
                stack = traceback.extract_stack(frame)[-6:] if frame is not None else []
                samples["\n".join(f"    {Path(f.filename).name}:{f.lineno} {f.name}"
                                   for f in stack)] += 1
            elif samples and last != reported:
                reported = last
                total = sum(samples.values())
                print(f"stall of at least {total * 5 + self.threshold * 1000:.0f} ms; "
                      f"GUI thread seen in:", flush=True)
                for stack, n in samples.most_common(2):
                    print(f"  {n} sample(s):\n{stack}", flush=True)
                samples.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--limit-seconds", type=float, default=None,
                        help="cancel the analysis after this many seconds")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--view", choices=("worklist", "tree"), default="worklist",
                        help="how the browser shows the images during the analysis "
                             "(the worklist re-sorts as scores arrive; default)")
    parser.add_argument("--stall-traces", type=float, default=None, metavar="MS",
                        help="print where the GUI thread was when a stall passed MS ms")
    args = parser.parse_args(argv)
    print(f"None's reference count at start: {sys.getrefcount(None)}")
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major")
    _app = QApplication.instance() or QApplication(sys.argv[:1])
    from squid_core.library import bundled_model_path
    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings

    model = args.model or bundled_model_path()
    if not model.is_file():
        print(f"model not found: {model}", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="squid_load_")
    folder = Path(tmp.name) / "images"
    folder.mkdir()
    t0 = time.perf_counter()
    build_folder(folder, args.count)
    print(f"built {args.count} images in {time.perf_counter() - t0:.1f} s ({folder})")

    settings = AppSettings(Path(tmp.name) / "settings.ini")
    settings.auto_analyse = False
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()

    ticks: list[float] = []
    peak_tree = [0]
    last_sample = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        ticks.append(now)
        if now - last_sample[0] > 0.5:
            last_sample[0] = now
            peak_tree[0] = max(peak_tree[0], tree_rss_kib())

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    if args.stall_traces:
        StallWatch(ticks, args.stall_traces / 1000).start()

    def pump(condition, timeout: float = 120.0) -> bool:
        return wait_for(condition, timeout, poll_s=0.001)

    def longest_gap(since: float) -> float:
        times = [t for t in ticks if t >= since]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        return max(gaps, default=0.0)

    loaded: list[str] = []
    window.modelLoaded.connect(loaded.append)
    window.load_model(model, args.device)
    # Described from its header at once; wait until the service's worker holds the weights.
    if not pump(lambda: bool(loaded) and window.session.worker_pid is not None, 300):
        print("model did not load", file=sys.stderr)
        return 1
    print(f"model {model.name} on {window.session.model.device}")

    timer.start()
    scanned: list[int] = []
    window.scanFinished.connect(scanned.append)
    t_open = time.perf_counter()
    window.open_paths([folder])
    if not pump(lambda: bool(scanned), 600):
        print("folder scan did not finish", file=sys.stderr)
        return 1
    pump(lambda: False, 2.0)  # the first image is read and shown meanwhile
    open_s = time.perf_counter() - t_open
    open_stall = longest_gap(t_open)
    n_open = len(window.session.catalog.entries)
    print(f"opened {n_open} image(s) ({len(window.session.catalog.rejected)} refused) in "
          f"{open_s - 2.0:.1f} s; longest event-loop stall while opening "
          f"{open_stall * 1000:.0f} ms")

    if args.view == "worklist":
        t_view = time.perf_counter()
        window.actions_by_id["worklist"].setChecked(True)
        print(f"worklist shown in {(time.perf_counter() - t_view) * 1000:.0f} ms")
    finished: list[bool] = []
    window.analysisFinished.connect(finished.append)
    t_an = time.perf_counter()
    window.analyse_all()  # what "Analyse all" does
    limit = args.limit_seconds if args.limit_seconds is not None else 24 * 3600
    pump(lambda: bool(finished), limit)
    cancelled = False
    if not finished:
        cancelled = True
        t_cancel = time.perf_counter()
        window.cancel_analysis()
        if not pump(lambda: bool(finished), 120):
            print("analysis did not stop after cancel", file=sys.stderr)
            return 1
        print(f"cancelled after {t_cancel - t_an:.1f} s; stopped "
              f"{time.perf_counter() - t_cancel:.2f} s after the cancel")
    an_s = time.perf_counter() - t_an
    an_stall = longest_gap(t_an)
    pump(lambda: False, 0.5)
    timer.stop()
    scored = sum(1 for e in window.session.catalog.entries.values() if e.summary is not None)
    peak_tree[0] = max(peak_tree[0], tree_rss_kib())
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"analysis {'cancelled' if cancelled else 'finished'}: {scored} of "
          f"{len(window.session.catalog.entries)} image(s) scored in {an_s:.1f} s "
          f"({scored / max(an_s, 1e-9):.2f} images/s)")
    print(f"longest event-loop stall (10 ms timer): opening {open_stall * 1000:.0f} ms, "
          f"analysis {an_stall * 1000:.0f} ms, overall {longest_gap(t_open) * 1000:.0f} ms")
    print(f"peak resident memory: viewer process {peak_self / 1024:.0f} MiB (getrusage); "
          f"viewer + helper processes {peak_tree[0] / 1024:.0f} MiB (sampled every 0.5 s)")
    print(f"None's reference count at the end: {sys.getrefcount(None)}")
    window.close()
    pump(lambda: False, 0.5)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
