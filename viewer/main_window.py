"""The main window: creates the session and the widgets and wires them together.

The state lives in a Qt-free :class:`~squid_core.session.Session` (open studies,
results, the image on screen, the active model and its operating point, the analysis
service it drives); the widgets observe it. The session's reports from the service's
threads reach the GUI thread through :class:`~viewer.session_bridge.GuiThreadDelivery`,
so every event and every widget update happens there. Scanning (:mod:`viewer.scanning`)
and decoding (:mod:`viewer.image_loader`) run off the GUI thread; the model runs only in
the analysis service's worker process.
Errors become status-bar messages, entries in the "Could not open" list or a
non-blocking message box, never a crash.

Signals let tests, the ``--screenshot`` mode and ``bench/viewer_latency.py`` follow
what happens without polling.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from squid_core.display import PreparedFrame, captions
from squid_core.session import ModelDescription, ModelDescriptionError, Session
from squid_core.version import __version__
from viewer.actions import ACTIONS, make_action, window_preset_specs
from viewer.export_actions import ExportActions
from viewer.frame_slider import FrameSlider
from viewer.garbage_collection import freeze_startup_objects
from viewer.image_loader import ImageLoader
from viewer.image_panes import ImagePanes
from viewer.menus import RecentMenu, build_menus_and_toolbar
from viewer.model_actions import ModelActions
from viewer.overlay_controls import OverlayControls
from viewer.pacs.pane import PacsPane
from viewer.run_progress import RunProgress
from viewer.scanning import Scans
from viewer.score_panel import RESEARCH_NOTE, ScorePanel
from viewer.session_bridge import GuiThreadDelivery, subscribe
from viewer.settings import AppSettings
from viewer.settings_dialog import SettingsDialog
from viewer.shortcuts_dialog import ShortcutsDialog
from viewer.study_browser import StudyBrowser
from viewer.tag_browser import TagBrowser
from viewer.workers import TaskRunner

#: File-dialog filter for images.
IMAGE_FILTER = ("Images (*.dcm *.dicom *.DCM *.png *.jpg *.jpeg *.tif *.tiff DICOMDIR);;"
                "All files (*)")


class MainWindow(QMainWindow):
    """SQUID Viewer's main window."""

    scanFinished = Signal(int)
    imageShown = Signal(str)
    imageFailed = Signal(str, str)
    resultShown = Signal(str)
    analysisFinished = Signal(bool)
    modelLoaded = Signal(str)
    modelCompiled = Signal(bool)  # after a background compilation: compiled or not
    modelFailed = Signal(str)

    def __init__(self, settings: AppSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SQUID Viewer")
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        #: The state: open studies, results, the image on screen, the model, the
        #: operating point, the analysis. Its events arrive on the GUI thread.
        self.session = Session(GuiThreadDelivery(self))
        self.tasks = TaskRunner(self)
        self._closing = False
        self._batch = False
        self._failed: tuple[str | None, int] | None = None  # the image on screen that failed
        #: perf_counter() timestamps of the latest open and display (for the benchmark).
        self.timestamps: dict[str, float] = {}

        self.scans = Scans(self.tasks, self)
        self.loader = ImageLoader(self.tasks, self)
        #: File ▸ Export (report, CSV, Secondary Capture, SR).
        self.exporter = ExportActions(self)
        #: The Model menu (model file, library, training wizard, information).
        self.model_actions = ModelActions(self)

        self._build_widgets()
        self._build_actions()
        self.recent_menu = RecentMenu(self)
        self.recent_menu.chosen.connect(lambda path: self.open_paths([path]))
        self.recent_menu.clearRequested.connect(self._clear_recent)
        build_menus_and_toolbar(self, self.actions_by_id, self.recent_menu,
                                [self.pacs_dock.toggleViewAction()])
        self.recent_menu.set_paths(self.settings.recent_files)
        self._connect()
        self._restore()
        self._on_model_changed(None)
        self._update_preset_labels()
        # What exists now lives as long as the process: later full garbage collections
        # skip it (70-100 ms stalls otherwise; see viewer/garbage_collection.py).
        freeze_startup_objects()

    # -- construction ----------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.panes = ImagePanes()
        self.frames = FrameSlider()
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.panes, 1)
        layout.addWidget(self.frames)
        self.setCentralWidget(centre)

        self.browser = StudyBrowser(self.session.catalog)
        self.browser_dock = self._dock("Studies", "studies", self.browser,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.score_panel = ScorePanel()
        self.score_panel.analyseAnywayRequested.connect(self.analyse_anyway)
        self.overlay = OverlayControls(self.settings.overlay)
        self.score_panel.observe(self.session)
        self.overlay.observe(self.session)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.score_panel)
        side_layout.addWidget(self.overlay)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(290)
        self.analysis_dock = self._dock("Analysis", "analysis", scroll,
                                        Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tags = TagBrowser()
        self.tags_dock = self._dock("DICOM tags", "tags", self.tags,
                                    Qt.DockWidgetArea.LeftDockWidgetArea)
        # One column on the left (studies above, analysis below) leaves the full width
        # to the three panes.
        self.splitDockWidget(self.browser_dock, self.analysis_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.analysis_dock, self.tags_dock)
        self.pacs = PacsPane(self)
        self.pacs_dock = self._dock("PACS", "pacs", self.pacs,
                                    Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(self.tags_dock, self.pacs_dock)
        self.analysis_dock.raise_()
        self.resizeDocks([self.browser_dock], [440], Qt.Orientation.Horizontal)
        self.resizeDocks([self.browser_dock, self.analysis_dock], [330, 560],
                         Qt.Orientation.Vertical)

        self.run_progress = RunProgress(self.session)
        self.statusBar().addPermanentWidget(self.run_progress)
        self.resize(1500, 900)

    def _dock(self, title: str, name: str, widget: QWidget,
              area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        self.actions_by_id: dict[str, QAction] = {}
        for spec in (*ACTIONS, *window_preset_specs()):
            action = make_action(spec, self)
            self.addAction(action)
            self.actions_by_id[spec.id] = action
        a = self.actions_by_id
        handlers = {
            "open_files": self.open_files_dialog, "open_folder": self.open_folder_dialog,
            "close_all": self.close_all,
            "export_png": lambda: self.exporter.export_report("png"),
            "export_pdf": lambda: self.exporter.export_report("pdf"),
            "export_csv": self.exporter.export_csv,
            "export_sc": self.exporter.export_secondary_capture,
            "export_sr": self.exporter.export_sr,
            "settings": self.open_settings, "quit": self.close,
            "fit": self.panes.fit, "one_to_one": self.panes.one_to_one,
            "zoom_in": lambda: self.panes.zoom(1.25), "zoom_out": lambda: self.panes.zoom(0.8),
            "rotate_cw": lambda: self.panes.rotate(1), "rotate_ccw": lambda: self.panes.rotate(-1),
            "flip_h": lambda: self.panes.flip(True), "flip_v": lambda: self.panes.flip(False),
            "reset_view": self.reset_view,
            "next_image": lambda: self.browser.step(1),
            "prev_image": lambda: self.browser.step(-1),
            "next_frame": lambda: self.frames.step(1), "prev_frame": lambda: self.frames.step(-1),
            "analyse": self.analyse_current, "analyse_all": self.analyse_all,
            "cancel": self.cancel_analysis,
            "open_model": self.model_actions.open_model_dialog,
            "model_info": self.model_actions.show_model_info,
            "model_library": self.model_actions.open_model_library,
            "train": self.model_actions.open_training_wizard, "shortcuts": self.show_shortcuts,
            "about": self.show_about,
        }
        for key, handler in handlers.items():
            a[key].triggered.connect(handler)
        a["invert"].toggled.connect(self.panes.set_invert)
        a["anonymise"].setChecked(self.settings.anonymise_exports)
        a["anonymise"].toggled.connect(
            lambda on: setattr(self.settings, "anonymise_exports", bool(on)))
        a["measure"].toggled.connect(self.panes.set_measuring)
        a["magnifier"].toggled.connect(self.panes.set_magnifier)
        a["crosshair"].setChecked(True)
        a["crosshair"].toggled.connect(self.panes.set_crosshair)
        a["corner_info"].setChecked(True)
        a["corner_info"].toggled.connect(self.panes.set_corner_visible)
        a["toggle_overlay"].setChecked(self.overlay.visible.isChecked())
        a["toggle_overlay"].toggled.connect(self.overlay.visible.setChecked)
        self.overlay.visible.toggled.connect(a["toggle_overlay"].setChecked)
        a["tags"].triggered.connect(self.show_tags)
        a["worklist"].toggled.connect(self.browser.set_worklist_mode)
        a["full_screen"].toggled.connect(
            lambda on: self.showFullScreen() if on else self.showNormal())
        for i in range(1, 10):
            a[f"preset_{i}"].triggered.connect(lambda _=False, i=i: self.apply_preset(i - 1))
        self.run_progress.cancel_button.clicked.connect(self.cancel_analysis)
        a["cancel"].setEnabled(False)

    def _connect(self) -> None:
        """Widgets to the session, the session's events to the widgets."""
        session = self.session
        self.browser.imageSelected.connect(self.show_image)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)
        self.scans.progress.connect(
            lambda done, total: self.statusBar().showMessage(f"Scanning… {done} / {total} files"))
        self.scans.scanned.connect(self._on_scanned)
        self.scans.failed.connect(lambda message: self.show_error("Could not scan", message))
        self.scans.activeChanged.connect(self._update_cancel_enabled)
        self.frames.frameChanged.connect(session.set_frame)
        self.score_panel.operatingPointChosen.connect(self.set_operating_point)
        self.overlay.changed.connect(self._on_overlay)
        self.panes.windowChanged.connect(self._on_window)
        self.panes.readoutChanged.connect(
            lambda text: self.statusBar().showMessage(text) if text else None)
        for event, slot in (
                (session.model_changed, self._on_model_changed),
                (session.model_failed, self._on_service_failed),
                (session.model_compiled, self._on_model_compiled),
                (session.operating_point_changed, self._on_operating_point_changed),
                (session.frame_changed, self._on_frame),
                (session.result_ready, self._on_result),
                (session.analysis_failed, self._on_analysis_failed),
                (session.run_started, self._update_cancel_enabled),
                (session.run_finished, self._on_analysis_finished),
                (session.cleared, self._on_cleared)):
            subscribe(event, slot, self)
        self._on_overlay(self.overlay.settings())

    def _restore(self) -> None:
        geometry = self.settings.geometry
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state
        if state is not None:
            self.restoreState(state)

    # -- opening ---------------------------------------------------------------------

    def open_files_dialog(self) -> None:
        """File ▸ Open files."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.settings.last_folder,
                                                IMAGE_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        """File ▸ Open folder (recursive; DICOMDIRs inside are followed)."""
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_folder)
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: list[str | os.PathLike[str]], select_first: bool = True) -> None:
        """Scan files/folders in a worker, add what was found, show the first new image."""
        paths = [str(p) for p in paths]
        if not paths:
            return
        self.timestamps = {"open": time.perf_counter()}
        first = Path(paths[0])
        self.settings.last_folder = str(first if first.is_dir() else first.parent)
        for p in paths:
            self.settings.add_recent(p)
        self.recent_menu.set_paths(self.settings.recent_files)
        self.statusBar().showMessage(f"Scanning {len(paths)} path(s)…")
        self.scans.start(paths, select_first)

    def _on_scanned(self, result: Any, select_first: bool) -> None:
        if self._closing:
            return
        rejected_before = len(self.session.catalog.rejected)
        new = self.session.add_scan(result)
        rejected = len(self.session.catalog.rejected) - rejected_before
        msg = f"Opened {len(new)} image(s)"
        if rejected:
            msg += f"; {rejected} file(s) could not be opened (see the list)"
        self.statusBar().showMessage(msg, 8000)
        self.scanFinished.emit(len(new))
        # Show the first of the opened images in the order the browser lists them.
        wanted = {e.key for e in new} or {str(inst.path) for inst in result.instances}
        target = next((k for k in self.browser.visible_keys() if k in wanted), None)
        if select_first and target is not None:
            self.browser.select(target)
            if self.loader.wanted != target:
                self.show_image(target)

    def show_image(self, key: str) -> None:
        """Display the image ``key`` (read in a worker unless cached)."""
        if key not in self.session.catalog.entries:
            return
        if not self.loader.request(key):
            self.statusBar().showMessage(f"Reading {Path(key).name}…")

    def _on_image_loaded(self, key: str, image: Any, prepared: PreparedFrame) -> None:
        if self._closing:
            return
        self.session.show(key, image)
        self.panes.set_image(image, 0, prepared)
        self.frames.set_frames(getattr(image, "n_frames", 1), 0)
        self.tags.set_dataset(getattr(image, "header", None))
        self._update_corner()
        self._update_preset_labels()
        self.setWindowTitle(f"SQUID Viewer — {Path(key).name}")
        self.statusBar().showMessage(f"{Path(key).name}: {captions.describe(image)}", 6000)
        self.timestamps["shown"] = time.perf_counter()
        self._show_result_for_current()
        self.imageShown.emit(key)

    def _on_image_failed(self, key: str, reason: str) -> None:
        if self._closing:
            return
        path = self.session.catalog.reject(key, reason).path
        if key == self.loader.wanted:
            self.session.show(None)
            self.panes.set_image(None)
            self.panes.set_no_result_message(f"Could not open {path.name}:\n{reason}")
            self.panes.set_message("original", f"Could not open {path.name}:\n{reason}")
            self.tags.set_dataset(None)
            self.frames.set_frames(1)
        self.statusBar().showMessage(f"Could not open {path.name}: {reason}", 15000)
        self.imageFailed.emit(key, reason)

    def close_all(self) -> None:
        """Forget every open image (cancels a running analysis)."""
        self.session.clear()

    def _on_cleared(self) -> None:
        """The session forgot every image: so does every widget."""
        self.loader.forget()
        self.panes.set_image(None)
        self.tags.set_dataset(None)
        self.frames.set_frames(1)
        self.score_panel.set_result(None)
        self.setWindowTitle("SQUID Viewer")

    # -- model -----------------------------------------------------------------------

    def load_model(self, path: str | os.PathLike[str], device: str | None = None) -> None:
        """Use a model file: described from its header at once (``modelLoaded``, or
        ``modelFailed`` for a file that is not a model); its weights load in the analysis
        service's worker process. Scores so far are cleared."""
        device = device or self.settings.device
        try:
            self.session.load_model(str(path), device, compile=self.settings.compile_model)
        except ModelDescriptionError as exc:
            self._model_failed(f"{Path(path).name}: {exc}")
            return
        self.settings.model_path = str(path)
        model = self.session.model
        note = "" if model.calibrated else " (uncalibrated: scores are relative)"
        if self.settings.compile_model:
            # The analysis worker compiles its model; scores come at once from the
            # uncompiled networks and the compiled ones take over when ready.
            note += "; compiling it for this computer in the background"
        self.statusBar().showMessage(
            f"Model {model.name} {model.version} loading on {device}{note}", 8000)
        self.modelLoaded.emit(model.name)
        if self.session.key and self.settings.auto_analyse:
            self.analyse_current()

    def _on_model_changed(self, model: ModelDescription | None) -> None:
        """Another model (or none): the old results are gone (the score panel and the
        overlay controls follow the session themselves)."""
        self._update_no_result_message()
        for ident in ("analyse", "analyse_all"):
            self.actions_by_id[ident].setEnabled(model is not None)
        if self.session.key is not None:
            self.panes.set_result(None)

    def _on_model_compiled(self, compiled: bool, error: Any) -> None:
        model = self.session.model
        name = f"Model {model.name} {model.version}"
        self.statusBar().showMessage(
            f"{name} compiled" if compiled else f"{name} not compiled: {error}", 8000)
        self.modelCompiled.emit(compiled)

    def _on_service_failed(self, message: str) -> None:
        self._model_failed(message, "Analysis unavailable")

    def _model_failed(self, message: str, title: str = "Could not load the model") -> None:
        self.show_error(title, message)
        self.modelFailed.emit(message)

    def _update_no_result_message(self) -> None:
        self.panes.set_no_result_message(
            "Not analysed yet (F5)" if self.session.has_model else
            "No model loaded\nModel ▸ Open model file… (Ctrl+M)")

    # -- analysis --------------------------------------------------------------------

    def analyse_anyway(self) -> None:
        """Score the image on screen although it is not applicable to the model; the
        result keeps that status and says it was analysed anyway."""
        self.analyse_current(force=True)

    def analyse_current(self, force: bool = False) -> None:
        """Score the image and frame on screen (``force``: even when not applicable)."""
        if not self.session.has_model:
            self.statusBar().showMessage("No model loaded: Model ▸ Open model file… (Ctrl+M)",
                                         8000)
            return
        if self.session.key is None or self.session.image is None:
            return
        self.score_panel.set_busy()
        self._failed = None
        self.timestamps["analyse"] = time.perf_counter()
        self.session.analyse_current(force)  # first in the queue, also during "Analyse all"

    def analyse_all(self) -> None:
        """Score every image in the browser not yet scored; the worklist re-sorts live."""
        if not self.session.has_model:
            self.statusBar().showMessage("No model loaded: Model ▸ Open model file… (Ctrl+M)",
                                         8000)
            return
        self._batch = True
        if not self.session.analyse_all():
            self._batch = False
            self.statusBar().showMessage("Every image is already scored", 5000)
            self.analysisFinished.emit(False)

    def _update_cancel_enabled(self) -> None:
        self.actions_by_id["cancel"].setEnabled(self.session.busy or self.scans.active)

    def cancel_analysis(self) -> None:
        """Stop the running analysis after the image in progress, and any folder scan."""
        self.scans.cancel()
        if self.session.busy:
            self.session.cancel()
            self.statusBar().showMessage("Cancelling analysis…", 4000)

    def _on_analysis_finished(self, cancelled: bool) -> None:
        self._update_cancel_enabled()
        entries = self.session.catalog.entries
        if self._batch:
            scored = sum(1 for e in entries.values() if e.summary is not None)
            self.statusBar().showMessage(
                f"Analysis {'cancelled' if cancelled else 'done'}: {scored} of "
                f"{len(entries)} image(s) analysed{self._review_count()}", 8000)
        self._batch = False
        session = self.session
        if (session.key and session.result is None
                and (session.key, session.frame) != self._failed):
            self.score_panel.set_result(None)  # its error, if it failed, stays
        self.analysisFinished.emit(cancelled)

    def _review_count(self) -> str:
        n = sum(1 for e in self.session.catalog.entries.values()
                if e.summary is not None and e.summary.needs_review)
        return f", {n} need review (not applicable or outside the training data)" if n else ""

    def set_operating_point(self, name: str) -> None:
        """Flag at another of the model's stored operating points: every score so far is
        re-flagged (no image is analysed again) and later results use it."""
        if self.session.model is None or not self.session.model.operating_points:
            return
        try:
            self.session.set_operating_point(name)
        except KeyError as exc:
            self.statusBar().showMessage(str(exc.args[0]), 8000)

    def _on_operating_point_changed(self, op: Any) -> None:
        current = self.session.result
        if current is not None:
            self._show_result(current)
        flagged = sum(1 for e in self.session.catalog.entries.values()
                      if e.summary is not None and e.summary.flagged)
        self.statusBar().showMessage(
            f"Operating point {op.name}: flag if score ≥ {op.threshold:.1f}; "
            f"{flagged} image(s) flagged", 8000)

    def _on_result(self, key: str, frame: int, result: Any) -> None:
        if self._closing:
            return
        if key == self.session.key and frame == self.session.frame:
            self._show_result(result)
            self.timestamps["result"] = time.perf_counter()
            self.resultShown.emit(key)

    def _on_analysis_failed(self, key: str, message: str, unreadable: bool) -> None:
        name = Path(key).name if key else "analysis"
        verb = "open" if unreadable else "analyse"
        self.statusBar().showMessage(f"Could not {verb} {name}: {message}", 15000)
        if not unreadable and key and key == self.session.key:
            self._failed = (key, self.session.frame)
            self.score_panel.set_busy(f"Could not analyse: {message}")

    def _show_result(self, result: Any) -> None:
        if result.reconstruction is None:  # not applicable, not scored: nothing to overlay
            self.panes.set_result(None)
            reasons = result.status_reason.removeprefix("not applicable: ").split("; ")
            self.panes.set_no_result_message(
                "Not applicable: not scored\n\n" + "\n".join(reasons)
                + "\n\n\"Analyse anyway\" (score panel)\nscores it regardless")
        else:
            self.overlay.set_scale(result.heatmap_scale_max, result.heatmap_units)
            self.panes.set_result(result)
        self.score_panel.set_result(result)

    def _show_result_for_current(self) -> None:
        result = self.session.result
        if result is not None:
            self._show_result(result)
            self.resultShown.emit(self.session.key)
            return
        self.panes.set_result(None)
        self._update_no_result_message()
        self.score_panel.set_result(None)
        if self.session.has_model and self.settings.auto_analyse:
            self.analyse_current()

    def _on_frame(self, frame: int) -> None:
        self.panes.set_frame(frame)
        self._update_corner()
        self._show_result_for_current()

    # -- view ------------------------------------------------------------------------

    def reset_view(self) -> None:
        """Fit, no rotation/flip/inversion, the file's own window."""
        self.actions_by_id["invert"].setChecked(False)
        self.panes.reset()

    def apply_preset(self, index: int) -> None:
        """Digit key ``index + 1``: a window preset."""
        if self.panes.apply_preset(index):
            w = self.panes.presets[index]
            self.statusBar().showMessage(
                f"Window {index + 1}: {w.name} (W {w.width:.5g} L {w.center:.5g})", 4000)
        elif self.panes.image is not None:
            self.statusBar().showMessage(f"No window preset {index + 1} for this image", 3000)

    def _update_preset_labels(self) -> None:
        presets = self.panes.presets
        for i in range(1, 10):
            action = self.actions_by_id[f"preset_{i}"]
            if i <= len(presets):
                w = presets[i - 1]
                action.setText(f"{w.name} (W {w.width:.5g} L {w.center:.5g})")
                action.setEnabled(True)
            else:
                action.setText(f"Window preset {i}")
                action.setEnabled(False)

    def _on_window(self, window: Any) -> None:
        self._update_corner()

    def _on_overlay(self, s: Any) -> None:
        self.panes.set_overlay(self.overlay.lut(), s.opacity, s.threshold, s.visible)

    def show_tags(self) -> None:
        """View ▸ DICOM tags: bring the tag browser forward, focus its search field."""
        self.tags_dock.show()
        self.tags_dock.raise_()
        self.tags.search.setFocus()

    def _update_corner(self) -> None:
        self.panes.set_corner_text(captions.corner_text(self.session.image, self.session.frame,
                                                        self.panes.state.window))

    # -- dialogs ---------------------------------------------------------------------

    def open_settings(self) -> None:
        """File ▸ Settings; a new device reloads the model."""
        before = (self.settings.device, self.settings.compile_model)
        dialog = SettingsDialog(self.settings, self)
        if not dialog.exec():
            return
        self.actions_by_id["anonymise"].setChecked(self.settings.anonymise_exports)
        after = (self.settings.device, self.settings.compile_model)
        model = self.session.model
        if after != before and model is not None and model.path:
            self.load_model(model.path, self.settings.device)

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard shortcuts."""
        dialog = ShortcutsDialog(self.actions_by_id.values(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def show_about(self) -> None:
        """Help ▸ About."""
        self.show_info("About SQUID Viewer",
                   f"SQUID Viewer {__version__}\n\nAnomaly detection on chest radiographs "
                   "with SQUID (Xiang et al., CVPR 2023), trained on normal studies only.\n\n"
                   f"{RESEARCH_NOTE}")

    def show_error(self, title: str, text: str) -> None:
        """A problem the user should know of: in the status bar, and in a message box
        when there is a screen."""
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            return  # no one to click OK: the status bar carries the message
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def show_info(self, title: str, text: str) -> None:
        """A message box the user closes."""
        box = QMessageBox(QMessageBox.Icon.Information, title, text,
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self.recent_menu.set_paths(self.settings.recent_files)

    # -- drag and drop, close --------------------------------------------------------

    @staticmethod
    def _local_paths(mime: QMimeData) -> list[str]:
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags of local files and folders."""
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """Open dropped files and folders."""
        paths = self._local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    def closeEvent(self, event: QCloseEvent) -> None:
        """Remember geometry and overlay, stop workers, then close."""
        self._closing = True
        self.scans.cancel()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.overlay = self.overlay.settings()
        self.settings.sync()
        self.session.close()
        self.pacs.shutdown()
        super().closeEvent(event)
