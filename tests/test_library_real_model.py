"""The library with real model files: validation through ``squid_core.load_model``.

A file enters the library only if it loads, so every model the viewer can select
also opens; the refusal carries the model-file reader's message.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from safetensors.torch import load_file

from squid_core.library import LibraryError, ModelLibrary
from squid_core.safetensors_header import read_squid_metadata

REFERENCE = Path(__file__).parent / "data" / "official_squid"
GEN = REFERENCE / "official_generator.safetensors"
DISC = REFERENCE / "official_discriminator.safetensors"
CONFIG = REFERENCE / "config.json"


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


def test_import_reference_converts_the_real_reference_checkpoints(tmp_path):
    """The library's import runs the real converter on the reference code's checkpoints
    (tests/data/official_squid): the stored model holds exactly their tensors."""
    import squid_core
    from squid_core.model.reference_import import config_from_reference, load_reference_into
    from squid_core.model.squid_model import SquidModel

    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    gen_pth = tmp_path / "model.pth"  # the reference saves torch state_dict pickles
    torch.save(load_file(str(GEN)), gen_pth)
    entry = lib.import_reference(gen_pth, DISC, CONFIG, name="Reference", queue_pointer=3)
    assert entry.name == "Reference" and entry.path.is_file()
    assert not list(lib.models_dir.glob(".import-*"))
    lib.activate(entry.id)
    model = squid_core.load_model(lib.active_model().path)
    assert model.name == "Reference" and "reference SQUID checkpoints" in model.metadata["notes"]
    expected = SquidModel(config_from_reference(json.loads(CONFIG.read_text())))
    load_reference_into(expected, load_file(str(GEN)), load_file(str(DISC)), queue_pointer=3)
    state = model.state_dict()
    assert set(state) == set(expected.state_dict())
    for key, value in expected.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert state["generator.inpaint.queue.pointer"].tolist() == [3] * 4


def test_import_reference_refuses_what_the_converter_refuses(tmp_path):
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    # Swapped files: the generator's tensors do not fit the discriminator.
    with pytest.raises(LibraryError, match="not a usable reference SQUID checkpoint"):
        lib.import_reference(DISC, GEN, CONFIG)
    with pytest.raises(LibraryError, match="no such file"):
        lib.import_reference(tmp_path / "nope.pth", DISC, CONFIG)
    assert lib.list_models() == [] and not list(lib.models_dir.glob(".import-*"))
