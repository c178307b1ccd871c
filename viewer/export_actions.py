"""File ▸ Export: the report (PNG, PDF), the scores (CSV), the Secondary Capture and the SR.

What is exported is read from the session (the image, the frame, the result at the
operating point in use) and from the panes' view state and overlay look as values
(:class:`~squid_core.display.screen_view.ScreenView`), never from the widgets' pixels. Files are
written in a worker; ``finished(path)`` or ``failed(message)`` follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from squid_core.display import captions
from squid_core.display.screen_view import ScreenView
from viewer import exports


class ExportActions(QObject):
    """The exports of the main window ``window`` (its session, panes, settings, tasks,
    status bar and ``show_error``)."""

    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.settings = window.settings

    def screen_view(self) -> ScreenView | None:
        """The image on screen with its result, as values (None: nothing analysed)."""
        s = self.session
        if s.image is None or s.result is None or s.result.score is None:
            return None
        panes = self.window.panes
        return ScreenView(s.image, s.frame, s.result, panes.state, panes.overlay_look)

    def report_content(self) -> exports.ReportContent:
        """What a report of the image on screen shows (ValueError: nothing analysed)."""
        view = self.screen_view()
        if view is None:
            raise ValueError("nothing to report: open an image and analyse it first")
        anonymise = self.settings.anonymise_exports
        source = "" if anonymise or not self.session.key else Path(self.session.key).name
        return exports.report_content(view, source,
                                      captions.study_lines(self.session.image, anonymise))

    def export_report(self, kind: str, path: str | None = None) -> Path | None:
        """Write the report of the image on screen as PNG or PDF."""
        if self.screen_view() is None:
            self.window.show_error("Nothing to report", "Open an image and analyse it first.")
            return None
        path = path or self._ask_save("Export report", f"report.{kind}",
                                      f"{kind.upper()} (*.{kind})")
        if not path:
            return None
        # Painting on a QImage or QPdfWriter is allowed outside the GUI thread.
        saver = exports.save_report_png if kind == "png" else exports.save_report_pdf
        self._run(saver, path, self.report_content(), note="")
        return Path(path)

    def export_csv(self, path: str | None = None, anonymise: bool | None = None) -> Path | None:
        """Scores of everything opened, as CSV."""
        path = path or self._ask_save("Export scores", "scores.csv", "CSV (*.csv)")
        if not path:
            return None
        anonymise = self.settings.anonymise_exports if anonymise is None else anonymise
        try:
            n = exports.save_scores_csv(path, self.session.catalog, anonymise)
        except OSError as exc:
            self.window.show_error("Export failed", str(exc))
            return None
        self.window.statusBar().showMessage(f"{n} row(s) written to {path}", 8000)
        return Path(path)

    def export_secondary_capture(self, path: str | None = None,
                                 anonymise: bool | None = None) -> Path | None:
        """The heatmap over the original as a DICOM Secondary Capture."""
        return self._export_dicom(exports.secondary_capture_job, "overlay_sc.dcm", path,
                                  anonymise)

    def export_sr(self, path: str | None = None, anonymise: bool | None = None) -> Path | None:
        """The score as a DICOM Comprehensive SR."""
        return self._export_dicom(exports.structured_report_job, "score_sr.dcm", path,
                                  anonymise)

    def _export_dicom(self, make_job: Any, suffix: str, path: str | None,
                      anonymise: bool | None) -> Path | None:
        """Collect what is on screen now, write the DICOM file in a worker; the target
        path, or None if nothing can be exported or the user cancelled."""
        view = self.screen_view()
        if view is None:
            self.window.show_error("Nothing to export", "Open an image and analyse it first.")
            return None
        path = path or self._ask_save("Export DICOM", suffix, "DICOM (*.dcm)")
        if not path:
            return None
        anonymise = self.settings.anonymise_exports if anonymise is None else anonymise
        try:
            job = make_job(view, anonymise)
        except ValueError as exc:
            self.window.show_error("Export failed", str(exc))
            return None
        self._run(job, path, note=" (anonymised)" if anonymise else "")
        return Path(path)

    def _ask_save(self, title: str, suffix: str, filt: str) -> str:
        stem = Path(self.session.key).stem if self.session.key else "squid"
        start = str(Path(self.settings.last_folder) / f"{stem}_{suffix}")
        path, _ = QFileDialog.getSaveFileName(self.window, title, start, filt)
        return path

    def _run(self, func: Any, path: str, *args: Any, note: str) -> None:
        """Run ``func(path, *args)`` in a worker; report in the status bar and by signal."""
        status = self.window.statusBar()
        status.showMessage(f"Writing {Path(path).name}{note}…")

        def done(out: Path) -> None:
            status.showMessage(f"Written {out}{note}", 8000)
            self.finished.emit(str(out))

        def failed(exc: BaseException) -> None:  # highdicom/pydicom raise many types
            text = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            self.window.show_error("Export failed", text)
            self.failed.emit(str(exc))

        self.window.tasks.run(func, path, *args, on_result=done, on_error=failed)
