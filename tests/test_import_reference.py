"""`squid import-reference`: .pth and .safetensors inputs; hostile pickles are refused."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from squid_core.cli import main as cli_main
from squid_core.model_file import load_model

FIXTURE = Path(__file__).parent / "data" / "official_squid"
GEN = FIXTURE / "official_generator.safetensors"
DISC = FIXTURE / "official_discriminator.safetensors"
CONFIG = FIXTURE / "config.json"


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: D105
        return (builtins.open, (self.marker, "w"))


def _run(*args: str) -> int:
    return cli_main(["import-reference", *args])


def test_pth_inputs_import_and_match_safetensors_inputs(tmp_path: Path) -> None:
    gen_pth, disc_pth = tmp_path / "model.pth", tmp_path / "discriminator.pth"
    torch.save(load_file(str(GEN)), gen_pth)
    torch.save(load_file(str(DISC)), disc_pth)
    out_pth, out_st = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert _run(str(gen_pth), str(disc_pth), "--reference-config", str(CONFIG), "-o", str(out_pth)) == 0
    assert _run(str(GEN), str(DISC), "--reference-config", str(CONFIG), "-o", str(out_st),
                "--queue-pointer", "32") == 0
    a, b = load_model(out_pth).state_dict(), load_model(out_st).state_dict()
    for key in a:
        if key != "generator.inpaint.queue.pointer":
            assert torch.equal(a[key], b[key]), key
    assert b["generator.inpaint.queue.pointer"].tolist() == [32] * 4
    assert load_model(out_pth).name == "a"


def test_malicious_pickle_is_refused_without_running(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pth"
    torch.save({"in_conv.conv.conv1.0.weight": _Payload(marker)}, evil)
    out = tmp_path / "out.safetensors"
    assert _run(str(evil), str(DISC), "--reference-config", str(CONFIG), "-o", str(out)) == 1
    assert not marker.exists()
    assert not out.exists()
    assert "refused" in capsys.readouterr().err
    # The payload is real: an unsafe load would have run it.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_bad_inputs_give_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.safetensors"
    assert _run(str(tmp_path / "nope.pth"), str(DISC), "--reference-config", str(CONFIG),
                "-o", str(out)) == 1
    assert "not found" in capsys.readouterr().err
    truncated = tmp_path / "gen.safetensors"
    truncated.write_bytes(GEN.read_bytes()[:5000])
    assert _run(str(truncated), str(DISC), "--reference-config", str(CONFIG), "-o", str(out)) == 1
    assert "not a readable safetensors" in capsys.readouterr().err
    # Swapped files: the generator's tensors do not fit the discriminator.
    assert _run(str(DISC), str(GEN), "--reference-config", str(CONFIG), "-o", str(out)) == 1
    assert "error" in capsys.readouterr().err
    cfg = json.loads(CONFIG.read_text())
    cfg["constructor"]["memory_channel"] = 512
    bad_cfg = tmp_path / "cfg.json"
    bad_cfg.write_text(json.dumps(cfg))
    assert _run(str(GEN), str(DISC), "--reference-config", str(bad_cfg), "-o", str(out)) == 1
    assert "memory_channel" in capsys.readouterr().err
    assert not out.exists()


def test_reference_configs_map_to_presets() -> None:
    from squid_core.model.presets import DIGITANATOMY, PAPER
    from squid_core.model.reference_import import config_from_reference

    common = dict(num_in_ch=1, features_root=32, shrink_thres=5, num_slots=200, ratio=0.95,
                  drop=0.0, dist=True, mem_num_slots=200)
    zhang_best = dict(common, num_patch=2, level=4, initial_combine=2, memory_channel=2048,
                      ops=["concat", "concat", "none", "none"])  # hard-coded decoder memories
    digit_best = dict(common, num_patch=3, level=3, initial_combine=1, memory_channel=1024,
                      ops=["concat", "concat", "none"], decoder_memory=[
                          None,
                          {"type": "MemoryMatrixBlockV3", "multiplier": 256, "num_memory": 9},
                          {"type": "MemoryMatrixBlockV3", "multiplier": 64, "num_memory": 9}])
    assert config_from_reference({"constructor": zhang_best, "discriminator": {"size": 4},
                                  "image_size": 128}) == PAPER
    assert config_from_reference({"constructor": digit_best, "discriminator": {"size": 3},
                                  "image_size": 96}) == DIGITANATOMY
