"""Every command of the viewer, with its menu, label and keyboard shortcut, in one table.

The main window builds its QActions from :data:`ACTIONS` (so menus show the keys) and
the help dialog lists the same QActions (so the help never disagrees with the menus).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    """One command: id used in code, menu it sits in, label, shortcut(s), tooltip."""

    id: str
    menu: str
    text: str
    keys: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False
    short: str = ""


#: Number of window presets reachable by digit keys (1..9).
PRESET_KEYS = 9

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_files", "File", "&Open files...", ("Ctrl+O",), "Open DICOM, PNG, JPEG or TIFF files", short="Open"),
    ActionSpec("open_folder", "File", "Open &folder...", ("Ctrl+Shift+O",), "Open every image in a folder, recursively (DICOMDIR too)", short="Folder"),
    ActionSpec("close_all", "File", "&Close all", ("Ctrl+W",), "Close every open image"),
    ActionSpec("anonymise", "File", "&Anonymise exports", (), "Strip names, IDs, dates of birth and other identifying data from DICOM and CSV exports, and the file name from reports", True),
    ActionSpec("export_png", "File", "Export report as &PNG...", ("Ctrl+E",), "Original, heatmap, score, model and date as an image"),
    ActionSpec("export_pdf", "File", "Export report as P&DF...", ("Ctrl+P",), "Original, heatmap, score, model and date as a PDF page"),
    ActionSpec("export_csv", "File", "Export scores as &CSV...", ("Ctrl+Shift+C",), "Scores of every opened image"),
    ActionSpec("export_sc", "File", "Export overlay as DICOM &Secondary Capture...", ("Ctrl+Shift+S",), "The heatmap over the original as a DICOM image"),
    ActionSpec("export_sr", "File", "Export score as DICOM Structured &Report...", ("Ctrl+Shift+R",), "The score as a DICOM Comprehensive SR"),
    ActionSpec("settings", "File", "Se&ttings...", ("Ctrl+,",), "Device, exports, analysis"),
    ActionSpec("quit", "File", "&Quit", ("Ctrl+Q",), "Close SQUID Viewer"),
    ActionSpec("fit", "View", "&Fit to window", ("F",), "Show the whole image in every pane", short="Fit"),
    ActionSpec("one_to_one", "View", "&1:1 (one image pixel per screen pixel)", ("Ctrl+1",), "Actual pixels", short="1:1"),
    ActionSpec("zoom_in", "View", "Zoom &in", ("+", "="), "Zoom in (mouse wheel too)"),
    ActionSpec("zoom_out", "View", "Zoom &out", ("-",), "Zoom out (mouse wheel too)"),
    ActionSpec("rotate_cw", "View", "&Rotate 90° clockwise", ("R",), "Rotate every pane", short="Rotate"),
    ActionSpec("rotate_ccw", "View", "Rotate 90° counter-clockwise", ("Shift+R",), "Rotate every pane"),
    ActionSpec("flip_h", "View", "Flip &horizontally", ("H",), "Mirror left-right", short="Flip H"),
    ActionSpec("flip_v", "View", "Flip &vertically", ("V",), "Mirror top-bottom", short="Flip V"),
    ActionSpec("invert", "View", "&Invert greys", ("I",), "Negative image", True, short="Invert"),
    ActionSpec("reset_view", "View", "R&eset view", ("0",), "Fit, no rotation, no flip, the file's own window", short="Reset"),
    ActionSpec("measure", "View", "&Measure distance", ("M",), "A ruler on the original, labelled in mm with the source of its calibration", True, short="Measure"),
    ActionSpec("magnifier", "View", "Ma&gnifier", ("G",), "A loupe following the cursor (3x)", True, short="Loupe"),
    ActionSpec("crosshair", "View", "&Crosshair", ("C",), "Crosshair and pixel read-out", True),
    ActionSpec("corner_info", "View", "Corner &text", ("Ctrl+I",), "Study data in the corner of the original (hiding it does not de-identify anything)", True),
    ActionSpec("toggle_overlay", "View", "Heat&map overlay", ("O",), "Show or hide the heatmap over the original", True, short="Heatmap"),
    ActionSpec("tags", "View", "DICOM &tags", ("Ctrl+T",), "Show the DICOM tag browser and its search field", short="Tags"),
    ActionSpec("worklist", "View", "&Worklist (sort by score)", ("W",), "Flat list, most suspicious first", True, short="Worklist"),
    ActionSpec("next_image", "View", "Next image", ("PgDown", "Ctrl+Down"), "Next image in the browser"),
    ActionSpec("prev_image", "View", "Previous image", ("PgUp", "Ctrl+Up"), "Previous image in the browser"),
    ActionSpec("next_frame", "View", "Next frame", ("Right",), "Multi-frame images"),
    ActionSpec("prev_frame", "View", "Previous frame", ("Left",), "Multi-frame images"),
    ActionSpec("full_screen", "View", "Full &screen", ("F11",), "Full screen", True),
    ActionSpec("analyse", "Analysis", "&Analyse this image", ("F5",), "Score the image on screen", short="Analyse"),
    ActionSpec("analyse_all", "Analysis", "Analyse a&ll", ("Shift+F5",), "Score every image in the browser; the worklist re-sorts as scores arrive", short="Analyse all"),
    ActionSpec("cancel", "Analysis", "&Cancel", ("Esc",), "Stop the running analysis or folder scan", short="Cancel"),
    ActionSpec("open_model", "Model", "&Open model file...", ("Ctrl+M",), "Load a SQUID model (.safetensors)"),
    ActionSpec("model_library", "Model", "Model &library...", ("Ctrl+L",), "Bundled and your own models: import, export, activate, delete"),
    ActionSpec("train", "Model", "&Train on your normal studies...", ("Ctrl+Shift+T",), "The training wizard: fine-tune SQUID on this site's normal studies"),
    ActionSpec("model_info", "Model", "Model &information", (), "Name, version, calibration and operating points of the loaded model"),
    ActionSpec("shortcuts", "Help", "&Keyboard shortcuts", ("F1", "?"), "List every shortcut"),
    ActionSpec("about", "Help", "&About SQUID Viewer", (), "Version, licence, intended use"),
)

#: Menus in menu-bar order.
MENUS = ("File", "View", "Window", "Analysis", "Model", "Help")


def window_preset_specs() -> list[ActionSpec]:
    """Digit keys 1..9: window presets (the file's own windows first, then auto, lung, bone)."""
    return [ActionSpec(f"preset_{i}", "Window", f"Window preset {i}", (str(i),),
                       "File windows first, then Auto, Lung, Bone") for i in range(1, PRESET_KEYS + 1)]


def make_action(spec: ActionSpec, parent: QWidget) -> QAction:
    """A QAction for ``spec``, with its shortcuts active while the window has focus."""
    action = QAction(spec.text, parent)
    action.setObjectName(spec.id)
    if spec.keys:
        action.setShortcuts([QKeySequence(k) for k in spec.keys])
    tip = spec.tip or spec.text.replace("&", "")
    if spec.keys:
        tip = f"{tip}  ({', '.join(spec.keys)})"
    action.setToolTip(tip)
    action.setStatusTip(spec.tip)
    action.setCheckable(spec.checkable)
    if spec.short:
        action.setIconText(spec.short)
    return action
