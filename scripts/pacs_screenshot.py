"""Screenshot of the viewer's PACS pane with query results from a local Orthanc.

Starts an Orthanc on loopback (tests/orthanc_server.py), uploads the two test studies
over its REST API, queries them from the pane and saves the window as a PNG::

    xvfb-run -a python scripts/pacs_screenshot.py docs/screenshots/pacs_pane.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main(out: str) -> None:
    """Start Orthanc, query it from the pane, save the window to ``out``."""
    import orthanc_server
    from PySide6.QtWidgets import QApplication

    from viewer._testsupport import wait_for
    from viewer.main_window import MainWindow
    from viewer.settings import AppSettings
    from viewer.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)  # as the viewer starts
    with tempfile.TemporaryDirectory() as tmp:
        server = orthanc_server.start_orthanc(
            Path(tmp) / "orthanc", {"SQUIDVIEWER": ("127.0.0.1", orthanc_server.free_port())})
        try:
            for name in ("dx_image.dcm", "SIIM_CR_chest.dcm"):
                server.upload(ROOT / "tests" / "data" / "dicom" / name)
            window = MainWindow(AppSettings(Path(tmp) / "settings.ini"))
            window.resize(1500, 900)
            window.show()
            window.pacs_dock.raise_()
            pane = window.pacs
            pane.add_node(f"{server.aet}@127.0.0.1:{server.dicom_port}")
            done = []
            pane.searched.connect(done.append)
            pane.search()
            if not wait_for(lambda: (app.processEvents(), bool(done))[1], 30):
                raise SystemExit(f"no answer from Orthanc: {pane.message}")
            for _ in range(20):
                app.processEvents()
            window.grab().save(out)
            window.close()
        finally:
            server.stop()
    print(f"written {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "pacs_pane.png")
