"""The model library store (squid_core.library): import, rename, export, activate, delete.

Most tests use small safetensors files with SQUID metadata and a validator that
accepts them, so they exercise the store's bookkeeping without building a model;
``test_library_real_model.py`` goes through ``squid_core.load_model``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from squid_core.library import BUNDLED_ID, LibraryError, ModelLibrary, validate_model_file
from squid_core.safetensors_header import read_squid_metadata, write_with_squid_metadata


def _fake_model(path: Path, name: str, created: str = "2026-01-01T00:00:00+00:00") -> Path:
    doc = {
        "format": "squid-viewer-model",
        "format_version": 1,
        "name": name,
        "version": "1",
        "created": created,
        "software_version": "0.1.0",
        "config": {"preset": "compact"},
        "training": {"data": {"n_train": 32}, "epochs": 1, "config": {"preset": "compact", "recipe": "robust"}},
        "metrics": {"validation": {"auc": 0.75, "n_normal": 4, "n_abnormal": 4}},
        "notes": "",
    }
    tensors = {"generator.w": np.arange(12, dtype=np.float32).reshape(3, 4)}
    save_file(tensors, str(path), metadata={"squid": json.dumps(doc), "other": "kept"})
    return path


def _accept(path: Path) -> None:
    read_squid_metadata(path)


@pytest.fixture()
def lib(tmp_path: Path) -> ModelLibrary:
    bundled = _fake_model(tmp_path / "default.safetensors", "Default", "2025-01-01T00:00:00")
    return ModelLibrary(tmp_path / "data", bundled_path=bundled, validator=_accept)


def test_rewrite_metadata_keeps_tensors_and_other_keys(tmp_path: Path) -> None:
    src = _fake_model(tmp_path / "a.safetensors", "A")
    doc = read_squid_metadata(src)
    doc["name"] = "a much longer name than before, to change the header length"
    write_with_squid_metadata(src, src, doc)
    assert read_squid_metadata(src)["name"].startswith("a much longer")
    np.testing.assert_array_equal(load_file(str(src))["generator.w"], np.arange(12).reshape(3, 4))
    from safetensors import safe_open

    with safe_open(str(src), framework="numpy") as fh:
        assert fh.metadata()["other"] == "kept"


def test_bundled_is_listed_and_active_by_default(lib: ModelLibrary) -> None:
    entries = lib.list_models()
    assert [e.id for e in entries] == [BUNDLED_ID]
    assert entries[0].bundled and entries[0].name == "Default"
    assert lib.active_id() == BUNDLED_ID


def test_import_activate_rename_export_delete(lib: ModelLibrary, tmp_path: Path) -> None:
    src = _fake_model(tmp_path / "site.safetensors", "Site model")
    entry = lib.import_model(src)
    assert src.exists(), "import copies, the source stays"
    assert entry.path.parent == lib.models_dir and entry.name == "Site model"
    assert entry.metrics_summary() == "validation AUC 0.750 (4 normal, 4 abnormal)"
    assert entry.data_summary() == ("32 normal training images, 1 epochs, preset compact, "
                                   "robust recipe")

    lib.activate(entry.id)
    assert json.loads(lib.pointer_path.read_text())["id"] == entry.id
    assert ModelLibrary(lib.data_dir, lib.bundled_path, _accept).active_id() == entry.id

    renamed = lib.rename(entry.id, "Site model v2")
    assert renamed.id == entry.id and lib.get(entry.id).name == "Site model v2"
    assert lib.active_id() == entry.id, "renaming keeps the model active"

    out = lib.export(entry.id, tmp_path / "exported.safetensors")
    assert read_squid_metadata(out)["name"] == "Site model v2"
    assert lib.export(entry.id, tmp_path).name == "site-model-v2.safetensors"

    lib.delete(entry.id)
    assert not entry.path.exists()
    assert lib.active_id() == BUNDLED_ID, "deleting the active model falls back to the default"
    assert json.loads(lib.pointer_path.read_text())["id"] == BUNDLED_ID
    with pytest.raises(LibraryError, match="No model"):
        lib.get(entry.id)


def test_bundled_cannot_be_deleted_or_renamed(lib: ModelLibrary) -> None:
    with pytest.raises(LibraryError, match="cannot be deleted"):
        lib.delete(BUNDLED_ID)
    with pytest.raises(LibraryError, match="read-only"):
        lib.rename(BUNDLED_ID, "x")
    assert lib.bundled_path.exists()


def test_delete_active_without_bundled_clears_pointer(tmp_path: Path) -> None:
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors",
                       validator=_accept)
    assert lib.active_id() is None and lib.list_models() == []
    entry = lib.import_model(_fake_model(tmp_path / "m.safetensors", "M"))
    lib.activate(entry.id)
    lib.delete(entry.id)
    assert lib.active_id() is None and not lib.pointer_path.exists()


def test_dangling_pointer_falls_back(lib: ModelLibrary, tmp_path: Path) -> None:
    entry = lib.import_model(_fake_model(tmp_path / "m.safetensors", "M"))
    lib.activate(entry.id)
    entry.path.unlink()  # removed behind the library's back
    assert lib.active_id() == BUNDLED_ID


def test_add_trained_moves_and_sets_name_notes(lib: ModelLibrary, tmp_path: Path) -> None:
    src = _fake_model(tmp_path / "run.safetensors", "run")
    points = [{"name": "target", "threshold": 55.0, "rule": "r", "sensitivity": None,
               "specificity": 0.9}]
    entry = lib.add_trained(src, "Ward A", "notes here",
                            {"operating_points": points, "default_operating_point": "target"})
    assert not src.exists()
    meta = read_squid_metadata(entry.path)
    assert (meta["name"], meta["notes"], meta["default_operating_point"]) == (
        "Ward A", "notes here", "target")
    assert [e.name for e in lib.list_models()] == ["Default", "Ward A"]


def test_only_editable_keys_change(lib: ModelLibrary, tmp_path: Path) -> None:
    entry = lib.import_model(_fake_model(tmp_path / "m.safetensors", "M"))
    with pytest.raises(LibraryError, match="cannot be edited"):
        lib.update_metadata(entry.id, {"calibration": {"mu": 0, "sigma": 1}})
    with pytest.raises(LibraryError, match="empty"):
        lib.rename(entry.id, "   ")


def test_bad_files_refused_with_clear_message(tmp_path: Path) -> None:
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a model at all")
    with pytest.raises(LibraryError, match="Not a SQUID Viewer model"):
        lib.import_model(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(plain))
    with pytest.raises(LibraryError, match="no SQUID metadata"):
        validate_model_file(plain)
    with pytest.raises(LibraryError, match="no such file"):
        lib.import_model(tmp_path / "missing.safetensors")
    assert lib.list_models() == []


def test_listing_skips_corrupt_user_files(lib: ModelLibrary) -> None:
    lib.models_dir.mkdir(parents=True)
    (lib.models_dir / "broken.safetensors").write_bytes(b"\x00" * 4)
    assert [e.id for e in lib.list_models()] == [BUNDLED_ID]
    assert lib.skipped and "too short" in lib.skipped[0][1]


def test_ids_cannot_escape_the_folder(lib: ModelLibrary) -> None:
    with pytest.raises(LibraryError, match="Invalid model id"):
        lib.get("../etc/passwd")


def test_env_var_sets_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUID_VIEWER_DATA_DIR", str(tmp_path / "x"))
    assert ModelLibrary().data_dir == tmp_path / "x"
