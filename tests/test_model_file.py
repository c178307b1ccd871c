"""Model file round trip and refusal of damaged, foreign and hostile files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import squid_core
from squid_core.cli import main as cli_main
from squid_core.model import SquidConfig, build_model
from squid_core.model_file import ModelFileError, load_model, read_header

SMALL = SquidConfig(features_root=4, memory_channel=256, num_slots=8, mem_num_slots=8,
                    shrink_thres=3)


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, squid_core.model.SquidModel]:
    torch.manual_seed(0)
    model = build_model(SMALL)
    gen = model.generator.train()
    gen.write_memory(gen(torch.rand(3, 1, 128, 128)))
    model.eval()
    model.metadata.update({
        "name": "chest-test", "version": "1.2.0",
        "calibration": {"mu": 1.5, "sigma": 0.25, "n_images": 40},
        "operating_points": [{"name": "balanced", "threshold": 60.0, "rule": "spec >= 0.9",
                              "sensitivity": 0.8, "specificity": 0.9}],
        "default_operating_point": "balanced",
        "heatmap": {"units": "sigma above normal", "scale_max": 4.0, "shape": [128, 128]},
        "training": {"epochs": 1}, "metrics": {"auc": 0.5}, "notes": "test",
    })
    model.heatmap_mean = torch.full((128, 128), 0.1)
    model.heatmap_std = torch.full((128, 128), 0.02)
    path = tmp_path / "model.safetensors"
    model.save(path)
    return path, model


def test_round_trip_keeps_weights_queues_pointer_and_metadata(saved) -> None:
    path, model = saved
    loaded = squid_core.load_model(path)
    assert not loaded.generator.training and not loaded.discriminator.training
    assert loaded.config == model.config
    ref = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, ref[key]), key
    assert loaded.generator.inpaint.queue.pointer.tolist() == [3, 3, 3, 3]
    assert loaded.name == "chest-test" and loaded.version == "1.2.0"
    assert loaded.metadata["calibration"]["mu"] == 1.5
    assert loaded.metadata["default_operating_point"] == "balanced"
    assert torch.equal(loaded.heatmap_std, model.heatmap_std)
    header, doc = read_header(path)
    assert doc["format"] == "squid-viewer-model" and doc["format_version"] == 1
    assert "generator.inpaint.queue.slots" in header and "heatmap.mean" in header
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_heatmap_statistics_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    build_model(SMALL).save(path)
    loaded = load_model(path)
    assert loaded.heatmap_mean is None and loaded.metadata["calibration"] is None


def test_half_precision_weights_load_as_float32(saved, tmp_path: Path) -> None:
    path, model = saved
    tensors = load_file(str(path))
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        meta = json.loads(fh.read(n))["__metadata__"]
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in tensors.items()}
    out = tmp_path / "half.safetensors"
    save_file(half, str(out), metadata=meta)
    loaded = load_model(out)
    w = loaded.generator.encoder.stem.entry.conv.weight
    assert w.dtype == torch.float32
    assert torch.allclose(w, model.generator.encoder.stem.entry.conv.weight, atol=1e-2)


def _expect_error(path: Path, fragment: str) -> None:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert fragment in str(info.value), str(info.value)


def test_truncated_file(saved, tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[: len(data) - 1000])
    _expect_error(bad, "truncated")


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    for content in (b"", b"abc"):
        bad = tmp_path / "tiny.safetensors"
        bad.write_bytes(content)
        _expect_error(bad, "too short")


def test_huge_declared_header(tmp_path: Path) -> None:
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    _expect_error(bad, "header claims")


def test_invalid_json_header(tmp_path: Path) -> None:
    bad = tmp_path / "badjson.safetensors"
    body = b"{not json"
    bad.write_bytes(struct.pack("<Q", len(body)) + body)
    _expect_error(bad, "not valid JSON")


def test_foreign_files(tmp_path: Path) -> None:
    plain = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(plain))
    _expect_error(plain, "not a SQUID Viewer model")
    png = tmp_path / "picture.safetensors"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    _expect_error(png, "header claims")
    ref = Path(__file__).parent / "data" / "official_squid" / "official_generator.safetensors"
    _expect_error(ref, "import-reference")
    _expect_error(tmp_path / "missing.safetensors", "not found")


def test_invalid_metadata_document(saved, tmp_path: Path) -> None:
    tensors = load_file(str(saved[0]))
    bad = tmp_path / "badmeta.safetensors"
    save_file(tensors, str(bad), metadata={"squid": "{oops"})
    _expect_error(bad, "not valid JSON")
    _, doc = read_header(saved[0])
    doc["format_version"] = 99
    save_file(tensors, str(bad), metadata={"squid": json.dumps(doc)})
    _expect_error(bad, "newer")


def test_wrong_shape_and_missing_tensors(saved, tmp_path: Path) -> None:
    path, _ = saved
    tensors = load_file(str(path))
    _, doc = read_header(path)
    meta = {"squid": json.dumps(doc)}
    wrong = dict(tensors)
    wrong["generator.inpaint.queue.slots"] = torch.zeros(4, 9, 256)
    bad = tmp_path / "shape.safetensors"
    save_file(wrong, str(bad), metadata=meta)
    _expect_error(bad, "generator.inpaint.queue.slots has shape")
    missing = {k: v for k, v in tensors.items() if k != "discriminator.head.weight"}
    save_file(missing, str(bad), metadata=meta)
    _expect_error(bad, "missing 1 tensors")
    nan = dict(tensors)
    nan["discriminator.head.bias"] = torch.tensor([float("nan")])
    save_file(nan, str(bad), metadata=meta)
    _expect_error(bad, "NaN")


def test_info_command(saved, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["info", str(saved[0])]) == 0
    text = capsys.readouterr().out
    assert "chest-test" in text and "balanced" in text and "mu 1.5" in text
    assert "per-image statistics" in text
    assert cli_main(["info", str(saved[0].with_name("nope.safetensors"))]) == 1
