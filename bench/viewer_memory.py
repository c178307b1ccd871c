"""Viewer memory: the window's resident memory before and after loading the bundled model.

The model's weights belong in the analysis service's worker process only; the window
describes the model from its file's header. This prints the window process's VmRSS
(``/proc/self/status``) with the window shown, after the bundled model is loaded and
one image analysed, and the worker process's VmRSS. Linux only. Usage::

    QT_QPA_PLATFORM=offscreen python bench/viewer_memory.py [--model FILE] [--image FILE]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size of process ``pid`` in MiB (``VmRSS`` of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc status")


def main(argv: list[str] | None = None) -> int:
    from squid_core.library import bundled_model_path as default_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "data" / "dicom"
                        / "SIIM_CR_chest.dcm")
    args = parser.parse_args(argv)

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = AppSettings(Path(tmp) / "settings.ini")
        settings.auto_analyse = True
        window = MainWindow(settings)
        window.show()
        wait_for(lambda: False, 1.0)
        gc.collect()
        shown = rss_mib()
        loaded: list[str] = []
        window.modelLoaded.connect(loaded.append)
        window.load_model(str(args.model), "cpu")
        if not wait_for(lambda: bool(loaded), 120):
            print("the model did not load", file=sys.stderr)
            return 1
        window.open_paths([str(args.image)])
        if not wait_for(lambda: window.panes.result is not None, 300):
            print("the image was not analysed", file=sys.stderr)
            return 1
        wait_for(lambda: False, 1.0)
        gc.collect()
        after = rss_mib()
        pid = window.session.worker_pid
        print(f"window process VmRSS: {shown:.0f} MiB with the window shown, {after:.0f} MiB "
              f"after loading {args.model.name} and analysing {args.image.name} "
              f"(+{after - shown:.0f} MiB)")
        if pid:
            print(f"analysis worker process VmRSS: {rss_mib(pid):.0f} MiB")
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
