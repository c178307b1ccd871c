"""The library with real model files: validation through ``squid_core.load_model``.

A file enters the library only if it loads, so every model the viewer can select
also opens; the refusal carries the model-file reader's message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from squid_core.library import LibraryError, ModelLibrary
from squid_core.library.safetensors_header import read_squid_metadata


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import squid_core

    path = tmp_path_factory.mktemp("models") / "compact.safetensors"
    model = squid_core.build_model("compact")
    model.metadata["name"] = "Compact test"
    model.save(path)
    return path


def test_real_model_import_rename_round_trips_through_load_model(tmp_path, model_file):
    import squid_core

    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    entry = lib.import_model(model_file)
    lib.rename(entry.id, "Renamed compact")
    lib.activate(entry.id)
    model = squid_core.load_model(lib.active_model().path)
    assert model.name == "Renamed compact"
    original = squid_core.load_model(model_file)
    for key, value in original.state_dict().items():
        assert np.array_equal(value.numpy(), model.state_dict()[key].numpy()), key


def test_truncated_model_is_refused_with_the_readers_message(tmp_path, model_file):
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(model_file.read_bytes()[:-1000])
    with pytest.raises(LibraryError, match="Not a valid model file: .*truncated or damaged"):
        lib.import_model(cut)
    assert lib.list_models() == []


def test_model_with_wrong_tensors_is_refused(tmp_path, model_file):
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    doc = read_squid_metadata(model_file)
    bad = tmp_path / "bad.safetensors"
    save_file({"generator.nothing": np.zeros(3, np.float32)}, str(bad),
              metadata={"squid": json.dumps(doc)})
    with pytest.raises(LibraryError, match="does not match its configuration"):
        lib.import_model(bad)
