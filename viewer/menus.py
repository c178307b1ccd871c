"""The main window's menus and toolbar, built from the action table (:mod:`viewer.actions`),
and the "Open recent" menu."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QMenu, QToolBar, QWidget

from viewer.actions import ACTIONS, MENUS, window_preset_specs

#: Actions followed by a separator in their menu.
_SEPARATED = ("close_all", "anonymise", "export_sr", "settings", "reset_view", "full_screen",
              "cancel")
#: The toolbar's groups of actions.
_TOOLBAR = (("open_files", "open_folder"), ("analyse", "analyse_all", "cancel"),
            ("fit", "one_to_one", "rotate_cw", "flip_h", "flip_v", "invert", "reset_view",
             "measure", "magnifier"), ("toggle_overlay", "worklist", "tags"))


class RecentMenu(QMenu):
    """File ▸ Open recent: ``chosen(path)``; "Clear list" emits ``clearRequested``."""

    chosen = Signal(str)
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Open &recent", parent)

    def set_paths(self, recent: list[str]) -> None:
        """Show ``recent`` (most recent first)."""
        self.clear()
        for path in recent:
            self.addAction(path).triggered.connect(lambda _=False, p=path: self.chosen.emit(p))
        if recent:
            self.addSeparator()
            self.addAction("Clear list").triggered.connect(self.clearRequested)
        self.setEnabled(bool(recent))


def build_menus_and_toolbar(window: Any, actions: dict[str, Any], recent: RecentMenu,
                            extra_view_actions: list[Any]) -> QToolBar:
    """Fill ``window``'s menu bar with ``actions`` (by id) and add its toolbar."""
    menus = {name: window.menuBar().addMenu(f"&{name}") for name in MENUS}
    specs = (*ACTIONS, *window_preset_specs())
    for action in actions.values():
        menu = next((s.menu for s in specs if s.id == action.objectName()), "View")
        menus[menu].addAction(action)
        if action.objectName() == "open_folder":
            menus["File"].addMenu(recent)
        if action.objectName() in _SEPARATED:
            menus[menu].addSeparator()
    for action in extra_view_actions:
        menus["View"].addAction(action)
    bar = QToolBar("Main", window)
    bar.setObjectName("toolbar_main")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    for group in _TOOLBAR:
        for ident in group:
            bar.addAction(actions[ident])
        bar.addSeparator()
    window.addToolBar(bar)
    return bar
