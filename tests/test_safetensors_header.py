"""One safetensors header reader: loading a model and the model library refuse the same
damaged files with the same message, under the same size limit, and never unpickle."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
import torch

from squid_core.library import LibraryError, ModelLibrary
from squid_core.model_file import ModelFileError, load_model
from squid_core.safetensors_header import MAX_HEADER_BYTES, read_squid_metadata

MODEL = Path(__file__).resolve().parent.parent / "resources" / "models" / "default.safetensors"


def _truncated_in_header(tmp: Path) -> Path:
    """The bundled model cut off in the middle of its JSON header."""
    head = MODEL.open("rb").read(4096)
    (n,) = struct.unpack("<Q", head[:8])
    assert n > 2000, "the bundled model's header is expected to be a few kB"
    out = tmp / "truncated.safetensors"
    out.write_bytes(head[:1000])
    return out


def _oversized(tmp: Path) -> Path:
    """A header declared one byte over the limit, in a (sparse) file large enough to hold
    it: refused by the limit, not by the file size."""
    out = tmp / "oversized.safetensors"
    with out.open("wb") as fh:
        fh.write(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{")
        fh.truncate(MAX_HEADER_BYTES + 4096)
    return out


def _not_json(tmp: Path) -> Path:
    """A well-framed header whose bytes are a pickle, not JSON."""
    body = pickle.dumps({"__metadata__": {"squid": "{}"}})
    out = tmp / "pickled.safetensors"
    out.write_bytes(struct.pack("<Q", len(body)) + body + b"\x00" * 16)
    return out


CASES = {
    "truncated": (_truncated_in_header, "its header claims"),
    "oversized": (_oversized, f"its header claims {MAX_HEADER_BYTES + 1} bytes"),
    "not json": (_not_json, "its header is not valid JSON"),
}


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything unpickles while the file is read."""

    def refuse(*_a, **_k):
        raise AssertionError("a model file was unpickled")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize("case", sorted(CASES))
def test_loading_and_the_library_give_the_same_clear_message(case, tmp_path, no_unpickling):
    make, fragment = CASES[case]
    path = make(tmp_path)
    with pytest.raises(ModelFileError) as loaded:
        load_model(path)
    with pytest.raises(ModelFileError) as listed:
        read_squid_metadata(path)
    assert str(loaded.value) == str(listed.value)
    message = str(loaded.value)
    assert message.startswith(path.name) and fragment in message, message
    assert "Traceback" not in message and "\n" not in message
    lib = ModelLibrary(tmp_path / "data", bundled_path=tmp_path / "none.safetensors")
    with pytest.raises(LibraryError, match="Not a SQUID Viewer model: ") as imported:
        lib.import_model(path)
    assert message in str(imported.value)
    assert lib.list_models() == []


def test_a_header_at_the_limit_is_read_past_the_framing(tmp_path):
    """The limit is the only size rule: a declared header of exactly MAX_HEADER_BYTES is
    read (here it is blank padding, so it fails as JSON, not as too large)."""
    path = tmp_path / "at_limit.safetensors"
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", MAX_HEADER_BYTES))
        fh.truncate(8 + MAX_HEADER_BYTES)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_squid_metadata(path)


def test_the_bundled_model_reads_the_same_through_both(no_unpickling):
    from squid_core.model_file import read_header

    _, doc = read_header(MODEL)
    assert read_squid_metadata(MODEL) == doc and doc["format"] == "squid-viewer-model"
