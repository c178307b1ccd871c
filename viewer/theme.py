"""The dark theme: a Fusion palette plus a small style sheet.

Reading rooms are dim and radiographs are judged on grey levels, so the frame around
the images stays dark and neutral; accent colour only marks selection and flags.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

#: Colours shared by widgets that paint their own text (score panel, reports).
BACKGROUND = "#1e1f22"
PANEL = "#2a2c30"
TEXT = "#e6e6e6"
MUTED = "#a0a4aa"
ACCENT = "#3d8fd1"
FLAG = "#e0544b"
OK = "#4caf7a"
#: Needs review: not applicable, or outside the model's training data.
REVIEW = "#f0c674"

_STYLE = f"""
QToolTip {{ color: {TEXT}; background: {PANEL}; border: 1px solid #555; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px; }}
QGroupBox {{ border: 1px solid #444; border-radius: 4px; margin-top: 1.2em; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
QStatusBar {{ color: {TEXT}; }}
QLabel#paneTitle {{ color: {MUTED}; font-weight: bold; }}
QLabel#scoreValue {{ font-size: 26pt; font-weight: bold; }}
QLabel#researchNote {{ color: #f0c674; }}
QTreeView, QListView, QTableView {{ alternate-background-color: #26282c; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette and the viewer's style sheet."""
    app.setStyle("Fusion")
    pal = QPalette()
    base, window, text = QColor(BACKGROUND), QColor(PANEL), QColor(TEXT)
    pal.setColor(QPalette.ColorRole.Window, window)
    pal.setColor(QPalette.ColorRole.WindowText, text)
    pal.setColor(QPalette.ColorRole.Base, base)
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#26282c"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, window)
    pal.setColor(QPalette.ColorRole.ToolTipText, text)
    pal.setColor(QPalette.ColorRole.Text, text)
    pal.setColor(QPalette.ColorRole.Button, window)
    pal.setColor(QPalette.ColorRole.ButtonText, text)
    pal.setColor(QPalette.ColorRole.BrightText, QColor(FLAG))
    pal.setColor(QPalette.ColorRole.Link, QColor(ACCENT))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor(MUTED))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#707070"))
    app.setPalette(pal)
    app.setStyleSheet(_STYLE)
