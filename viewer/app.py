"""Start SQUID Viewer: ``python main.py [PATH...] [--model FILE] [--device D] [--screenshot OUT]``.

With no PATH the bundled demo studies (``resources/demo/``) are opened when present, and
the bundled model (``resources/models/default.safetensors``) is loaded when present;
without a model the viewer still works as a viewer and says so.

``--screenshot OUT.png`` opens the paths, analyses them all, renders the window into
OUT.png and exits: for the documentation and for checks under Xvfb.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from squid_core.library import bundled_model_path
from squid_core.version import __version__
from viewer.main_window import MainWindow
from viewer.settings import DEVICES, AppSettings
from viewer.theme import apply_dark_theme

#: Seconds a ``--screenshot`` run waits for loading and analysis before saving anyway.
SCREENSHOT_TIMEOUT_S = 300


def demo_folder() -> Path:
    """``resources/demo/`` beside the package."""
    return Path(__file__).resolve().parent.parent / "resources" / "demo"


def build_parser() -> argparse.ArgumentParser:
    """Command-line arguments of the viewer."""
    parser = argparse.ArgumentParser(
        prog="squid-viewer",
        description="SQUID Viewer: chest radiographs with a SQUID anomaly score and heatmap. "
                    "Research use only - decision support, not a diagnosis.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or folders to open (default: the bundled demo studies)")
    parser.add_argument("--model", metavar="FILE",
                        help="model file (.safetensors); default: the bundled model if present")
    parser.add_argument("--device", choices=DEVICES,
                        help="compute device for this run (default: the saved setting)")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="open, analyse, save a picture of the window to OUT.png, exit")
    parser.add_argument("--size", default="1600x1000", metavar="WxH",
                        help="window size for --screenshot (default 1600x1000)")
    parser.add_argument("--settings", metavar="FILE.ini",
                        help="keep settings in this INI file instead of the user's settings")
    parser.add_argument("--version", action="version", version=f"SQUID Viewer {__version__}")
    return parser


class ScreenshotDirector:
    """Drives a ``--screenshot`` run: wait for the model and the scan, analyse all,
    wait for the results, then save the window and quit."""

    def __init__(self, window: MainWindow, out: Path, expect_model: bool) -> None:
        self.window = window
        self.out = out
        self.model_pending = expect_model
        self.scan_pending = True
        self.analysing = False
        self.done = False
        self.exit_code = 0
        window.modelLoaded.connect(self._on_model)
        window.modelFailed.connect(self._on_model)
        window.scanFinished.connect(self._on_scan)
        window.analysisFinished.connect(self._on_analysis)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, self._timeout)

    def _on_model(self, *_: object) -> None:
        self.model_pending = False
        self._maybe_analyse()

    def _on_scan(self, _count: int) -> None:
        self.scan_pending = False
        self._maybe_analyse()

    def _maybe_analyse(self) -> None:
        if self.model_pending or self.scan_pending or self.analysing:
            return
        if self.window.session.model is None:
            self._wait_for_image()
            return
        self.analysing = True
        self.window.analyse_all()

    def _wait_for_image(self) -> None:
        if self.window.panes.image is not None or not self.window.session.catalog.entries:
            QTimer.singleShot(800, self.save)
        else:
            self.window.imageShown.connect(lambda _k: QTimer.singleShot(800, self.save))
            self.window.imageFailed.connect(lambda *_: QTimer.singleShot(800, self.save))

    def _on_analysis(self, _cancelled: bool) -> None:
        if self.analysing and not self.window.session.busy:
            self.analysing = False
            # The worklist is sorted by score: show the most suspicious image.
            worklist = self.window.session.catalog.worklist()
            if worklist and worklist[0].key != self.window.session.key:
                self.window.browser.select(worklist[0].key)
                self.window.resultShown.connect(lambda _k: QTimer.singleShot(800, self.save))
                QTimer.singleShot(20000, self.save)
            else:
                QTimer.singleShot(800, self.save)

    def _timeout(self) -> None:
        if not self.done:
            print(f"screenshot: timed out after {SCREENSHOT_TIMEOUT_S} s; saving what is shown",
                  file=sys.stderr)
            self.exit_code = 1
            self.save()

    def save(self) -> None:
        """Grab the window into the output file and quit the application."""
        if self.done:
            return
        self.done = True
        QApplication.processEvents()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.out), "PNG"):
            print(f"screenshot: could not write {self.out}", file=sys.stderr)
            self.exit_code = 1
        else:
            print(f"screenshot: {self.out}")
        self.window.close()
        QApplication.instance().exit(self.exit_code)


def main(argv: list[str] | None = None) -> int:
    """Run the viewer; returns the exit code."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SQUID")
    app.setApplicationName("SQUID Viewer")
    app.setApplicationVersion(__version__)
    apply_dark_theme(app)

    tmp = None
    if args.screenshot and not args.settings:
        tmp = tempfile.TemporaryDirectory(prefix="squid-viewer-")
        settings = AppSettings(Path(tmp.name) / "settings.ini")
    else:
        settings = AppSettings(args.settings) if args.settings else AppSettings()
    if args.device:
        settings.device = args.device

    window = MainWindow(settings)
    model = Path(args.model) if args.model else bundled_model_path()
    has_model = model.is_file()
    if args.model and not has_model:
        print(f"model file not found: {model}", file=sys.stderr)
    paths = list(args.paths) or ([str(demo_folder())] if demo_folder().is_dir() else [])

    director = None
    if args.screenshot:
        w, _, h = args.size.partition("x")
        window.resize(int(w), int(h))
        director = ScreenshotDirector(window, Path(args.screenshot), has_model)
        if not paths:
            director.scan_pending = False
    window.show()
    if has_model:
        window.load_model(model, settings.device)
    if paths:
        window.open_paths(paths)
    if director is not None and not paths:
        director._maybe_analyse()
    code = app.exec()
    if director is not None:
        code = director.exit_code
    if tmp is not None:
        tmp.cleanup()
    return int(code)
