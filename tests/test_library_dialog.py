"""The model library dialog: what it lists and shows, and that it reports refusals inline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from squid_core.library import BUNDLED_ID, ModelLibrary
from squid_core.safetensors_header import read_squid_metadata


def _fake(path: Path, name: str) -> Path:
    doc = {"format": "squid-viewer-model", "format_version": 1, "name": name, "version": "1",
           "created": "2026-05-01T10:00:00+00:00", "software_version": "0.1.0",
           "calibration": {"mu": 1.5, "sigma": 0.5, "n_images": 100},
           "operating_points": [{"name": "balanced", "threshold": 60.0, "rule": "r",
                                 "sensitivity": 0.8, "specificity": 0.9}],
           "default_operating_point": "balanced", "notes": "from a test",
           "training": {"data": {"n_train": 100}, "epochs": 5},
           "metrics": {"validation": {"auc": 0.812, "n_normal": 10, "n_abnormal": 10}}}
    save_file({"w": np.zeros(4, np.float32)}, str(path), metadata={"squid": json.dumps(doc)})
    return path


@pytest.fixture()
def dialog(qtbot, tmp_path):
    from viewer.library import ModelLibraryDialog

    lib = ModelLibrary(tmp_path / "data", bundled_path=_fake(tmp_path / "d.safetensors", "Default"),
                       validator=read_squid_metadata)
    dlg = ModelLibraryDialog(lib)
    qtbot.addWidget(dlg)
    return dlg


def test_lists_bundled_and_shows_details(dialog):
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "● active"
    html = dialog.details.toPlainText()
    for text in ("Default", "bundled default", "validation AUC 0.812", "mu 1.5, sigma 0.5",
                 "balanced: flag at score ≥ 60.0", "100 normal training images", "from a test"):
        assert text in html
    assert not dialog.buttons["delete"].isEnabled(), "the bundled model cannot be deleted"
    assert not dialog.buttons["rename"].isEnabled()


def test_import_activate_rename_export_delete(qtbot, dialog, tmp_path):
    entry = dialog.import_file(_fake(tmp_path / "site.safetensors", "Site"))
    assert entry is not None and dialog.table.rowCount() == 2
    assert dialog.selected().id == entry.id
    with qtbot.waitSignal(dialog.activeModelChanged) as sig:
        dialog.activate_selected()
    assert sig.args == [str(entry.path)]
    assert dialog.library.active_id() == entry.id
    dialog.rename_selected("Site v2")
    assert dialog.library.get(entry.id).name == "Site v2"
    assert dialog.table.item(dialog.table.currentRow(), 1).text() == "Site v2"
    out = dialog.export_selected(tmp_path / "out.safetensors")
    assert out is not None and read_squid_metadata(out)["name"] == "Site v2"
    with qtbot.waitSignal(dialog.activeModelChanged) as sig:
        dialog.delete_selected()
    assert sig.args == [str(dialog.library.bundled_path)]
    assert dialog.library.active_id() == BUNDLED_ID and dialog.table.rowCount() == 1


def test_refusals_are_shown_in_the_dialog(dialog, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    assert dialog.import_file(junk) is None
    assert "Not a SQUID Viewer model" in dialog.message.text()
    dialog.select(BUNDLED_ID)
    dialog.delete_selected()
    assert "cannot be deleted" in dialog.message.text()
    assert dialog.library.bundled_path.exists()
