"""Shortcuts exist, show in the menus and in the help dialog; settings persist."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from squid_core.display import OverlaySettings
from viewer._testsupport import DATA, make_window, open_and_wait, tiny_model_file
from viewer.actions import ACTIONS
from viewer.settings import AppSettings
from viewer.shortcuts_dialog import ShortcutsDialog, shortcut_rows

FREQUENT = ("open_files", "open_folder", "fit", "one_to_one", "rotate_cw", "flip_h", "flip_v",
            "invert", "reset_view", "toggle_overlay", "analyse", "analyse_all", "cancel",
            "next_image", "prev_image", "next_frame", "open_model", "tags", "worklist",
            "export_png", "shortcuts", "measure", "magnifier", "crosshair")


def test_every_frequent_action_has_a_unique_shortcut_in_a_menu(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    for ident in FREQUENT:
        assert window.actions_by_id[ident].shortcuts(), ident
    seen: dict[str, str] = {}
    for ident, action in window.actions_by_id.items():
        for key in action.shortcuts():
            text = key.toString()
            assert text not in seen, f"{text} used by {seen.get(text)} and {ident}"
            seen[text] = ident
    menu_actions = {a.objectName() for m in window.menuBar().actions() if m.menu()
                    for a in m.menu().actions()}
    assert {s.id for s in ACTIONS} <= menu_actions
    for i in range(1, 10):
        assert window.actions_by_id[f"preset_{i}"].shortcut() == QKeySequence(str(i))


def test_help_dialog_lists_the_live_shortcuts(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    dialog = ShortcutsDialog(window.actions_by_id.values(), window)
    qtbot.addWidget(dialog)
    rows = shortcut_rows(window.actions_by_id.values())
    texts = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert {text for _, text in rows} <= texts
    assert "Right drag" in {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    dialog.filter.setText("rotate")
    visible = [r for r in range(dialog.table.rowCount()) if not dialog.table.isRowHidden(r)]
    assert visible and all("otate" in dialog.table.item(r, 1).text() for r in visible)


def test_digit_keys_apply_window_presets(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    assert open_and_wait(qtbot, window, DATA / "dicom" / "SIIM_CR_chest.dcm") == "shown"
    names = [p.name for p in window.panes.presets]
    assert names[-3:] == ["Auto", "Lung", "Bone"]
    window.panes.graphics.setFocus()
    qtbot.keyClick(window, str(len(names)))
    assert window.panes.state.window.name == "Bone"
    qtbot.keyClick(window, "0")
    assert window.panes.state.window is None


def test_settings_are_remembered(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    window.overlay.opacity.setValue(33)
    window.overlay.colormap.setCurrentText("viridis")
    window.resize(780, 590)
    size_at_close = window.size()
    window.close()
    settings = AppSettings(tmp_path / "settings.ini")
    assert settings.overlay == OverlaySettings("viridis", 0.33, 2.0, True)
    assert settings.recent_files[0].endswith("TBX11K_h0001.png")
    assert settings.last_folder == str(DATA / "images")
    again = make_window(qtbot, tmp_path)
    assert again.overlay.colormap.currentText() == "viridis"
    assert settings.geometry is not None
    assert again.size() == size_at_close
    settings.device = "cpu"
    assert AppSettings(tmp_path / "settings.ini").device == "cpu"


def test_tag_browser_filters(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    assert open_and_wait(qtbot, window, DATA / "dicom" / "SIIM_CR_chest.dcm") == "shown"
    tags = window.tags
    total = tags.row_count()
    tags.search.setText("0028,0030")
    assert 0 < tags.row_count() < total
    tags.search.setText("PixelSpacing")
    assert tags.row_count() >= 1
    tags.search.setText("")
    assert tags.row_count() == total


def test_settings_dialog_forces_a_device(qtbot, tmp_path) -> None:
    from viewer.settings_dialog import SettingsDialog

    settings = AppSettings(tmp_path / "dialog.ini")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert [dialog.device.itemData(i) for i in range(dialog.device.count())] == [
        "auto", "cpu", "cuda", "mps"]
    dialog.device.setCurrentIndex(1)
    dialog.anonymise.setChecked(False)
    assert not dialog.compile.isChecked()
    dialog.compile.setChecked(True)
    dialog.accept()
    assert settings.device == "cpu" and settings.anonymise_exports is False
    assert AppSettings(tmp_path / "dialog.ini").compile_model is True


def test_anonymise_toggle_in_the_file_menu_is_the_setting(qtbot, tmp_path) -> None:
    window = make_window(qtbot, tmp_path)
    action = window.actions_by_id["anonymise"]
    assert action.isChecked() == window.settings.anonymise_exports is True
    action.setChecked(False)
    assert AppSettings(tmp_path / "settings.ini").anonymise_exports is False


def test_model_library_opens_and_activating_loads_the_model(qtbot, tmp_path) -> None:
    """Model > Model library, select a model, press Activate: the window loads it and
    scores with it."""
    from squid_core.library import ModelLibrary
    from viewer.library import ModelLibraryDialog

    library = ModelLibrary(data_dir=tmp_path / "library",
                           bundled_path=tmp_path / "none.safetensors")
    entry = library.import_model(tiny_model_file(tmp_path / "tiny.safetensors"))
    window = make_window(qtbot, tmp_path)
    window.model_actions.library_factory = lambda: library
    assert window.session.model is None
    window.actions_by_id["model_library"].trigger()
    dialogs = window.findChildren(ModelLibraryDialog)
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    dialog = dialogs[0]
    dialog.select(entry.id)
    assert dialog.buttons["activate"].isEnabled()
    with qtbot.waitSignal(window.modelLoaded, timeout=30000) as loaded:
        dialog.buttons["activate"].click()
    assert loaded.args == ["tiny-test"] and library.active_id() == entry.id
    assert window.session.model.path == str(entry.path)
    assert "tiny-test" in window.score_panel.model.text()
    dialog.close()
    with qtbot.waitSignal(window.resultShown, timeout=60000):
        assert open_and_wait(qtbot, window, DATA / "images" / "TBX11K_h0001.png") == "shown"
    assert window.panes.result.model_name == "tiny-test"
    # A model file that has gone since it was activated is reported, not loaded.
    window.actions_by_id["model_library"].trigger()
    dialog = [d for d in window.findChildren(ModelLibraryDialog) if d.isVisible()][0]
    with qtbot.waitSignal(window.modelFailed, timeout=20000):
        dialog.activeModelChanged.emit(str(tmp_path / "missing.safetensors"))
    assert window.session.model.name == "tiny-test"  # the loaded model stays
    dialog.close()
