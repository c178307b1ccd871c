"""Viewer latency: open action -> first frame drawn -> analysis result shown.

Opens ``RG1_J2KR.dcm`` (chest CR, 1955 x 1841, JPEG 2000 lossless, 4.3 MB) in a real
MainWindow, as File > Open does, and measures

* open -> first paint of the panes with the image (target < 1.5 s),
* first paint -> analysis result shown in the panes and score panel (target < 1 s),
* the longest gap between ticks of a 10 ms QTimer meanwhile (GUI responsiveness).

Run 1 is cold (decoders and model warm up); runs 2.. are warm (the window is cleared
between runs, so the file is read and scored again each time). Usage::

    python bench/viewer_latency.py [--file PATH] [--model FILE] [--runs 5]

Without ``--model`` the bundled model is used, or, when there is none yet, a freshly
initialised ``compact`` model (same cost per image as a trained one).
Use ``QT_QPA_PLATFORM=offscreen`` or ``xvfb-run`` on a machine without a display.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CANDIDATES = (
    ROOT.parent / "shared" / "data" / "dicom" / "pydicom_data_wheel" / "RG1_J2KR.dcm",
    Path("/work/shared/data/dicom/pydicom_data_wheel/RG1_J2KR.dcm"),
)


def _default_file() -> Path | None:
    return next((p for p in CANDIDATES if p.is_file()), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=_default_file())
    parser.add_argument("--model", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.file is None or not args.file.is_file():
        print("RG1_J2KR.dcm not found: pass --file", file=sys.stderr)
        return 2

    import pyqtgraph as pg
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from squid_core.library import bundled_model_path
    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings
    from viewer.theme import apply_dark_theme

    apply_dark_theme(app)
    tmp = tempfile.TemporaryDirectory()
    model = args.model or bundled_model_path()
    if not model.is_file():
        import squid_core

        model = Path(tmp.name) / "compact.safetensors"
        squid_core.build_model("compact").save(model)
        print("no bundled model yet: using an untrained 'compact' model (same cost)")
    settings = AppSettings(Path(tmp.name) / "settings.ini")
    settings.auto_analyse = True
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()

    def pump(condition, timeout: float = 120.0) -> bool:
        return wait_for(condition, timeout, poll_s=0.001)

    loaded: list[str] = []
    window.modelLoaded.connect(loaded.append)
    window.load_model(model, args.device)
    if not pump(lambda: bool(loaded) and window.session.worker_pid is not None):
        print("model did not load", file=sys.stderr)
        return 1

    class PaintWatch(QObject):
        """Records the first paint of the panes after the image is set."""

        def __init__(self) -> None:
            super().__init__()
            self.armed = False
            self.painted: float | None = None

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
            if self.armed and event.type() == QEvent.Type.Paint and self.painted is None:
                self.painted = time.perf_counter()
            return False

    watch = PaintWatch()
    window.panes.graphics.viewport().installEventFilter(watch)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def measure() -> tuple[float, float, float] | None:
        """One open of the file: (first frame s, result after first frame s, stall s)."""
        window.close_all()
        pump(lambda: False, 0.3)
        state: dict[str, float] = {}

        def on_shown(_key: str) -> None:
            state.setdefault("shown", time.perf_counter())
            watch.armed = True

        def on_result(_key: str) -> None:
            state.setdefault("result", time.perf_counter())

        window.imageShown.connect(on_shown)
        window.resultShown.connect(on_result)
        watch.armed, watch.painted = False, None
        ticks.clear()
        timer.start()
        t0 = time.perf_counter()
        window.open_paths([args.file])
        ok = pump(lambda: "result" in state and watch.painted is not None)
        timer.stop()
        window.imageShown.disconnect(on_shown)
        window.resultShown.disconnect(on_result)
        if not ok:
            return None
        gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)] or [0.0]
        return watch.painted - t0, state["result"] - watch.painted, max(gaps)

    rows = []
    for run in range(1, args.runs + 1):
        row = measure()
        if row is None:
            print(f"run {run}: timed out", file=sys.stderr)
            return 1
        rows.append(row)
        first, result, stall = row
        print(f"run {run}{' (cold)' if run == 1 else ''}: open -> first frame {first:.3f} s, "
              f"first frame -> result {result:.3f} s, longest GUI stall {stall * 1000:.0f} ms")
    from squid_core.io import read_image

    t0 = time.perf_counter()
    read_image(args.file)
    decode = time.perf_counter() - t0
    warm = rows[1:] or rows
    print(f"warm median: open -> first frame {statistics.median(r[0] for r in warm):.3f} s "
          f"(target < 1.5), first frame -> result {statistics.median(r[1] for r in warm):.3f} s "
          f"(target < 1.0), longest GUI stall {max(r[2] for r in warm) * 1000:.0f} ms")
    print(f"reference: read_image alone (decode + display pipeline) {decode:.3f} s in this "
          f"process; file: {args.file.name}, model: {model.name}, "
          f"device: {window.session.model.device}")
    window.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
