"""SquidConfig validation, serialisation and presets."""

from __future__ import annotations

import json

import pytest
import torch

from squid_core.model import PRESETS, ConfigError, SquidConfig, build_model, get_preset
from squid_core.model.config import DecoderMemorySpec


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = get_preset(name)
    again = SquidConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_paper_preset_values() -> None:
    cfg = get_preset("paper")
    assert (cfg.image_size, cfg.num_patch, cfg.level, cfg.features_root) == (128, 2, 4, 32)
    assert (cfg.memory_channel, cfg.num_slots, cfg.mem_num_slots, cfg.shrink_thres) == (2048, 200, 200, 5)
    assert cfg.ratio == 0.95 and cfg.initial_combine == 2 and cfg.dist
    assert cfg.ops == ("concat", "concat", "none", "none")
    assert cfg.decoder_memory[2] == DecoderMemorySpec("windowed", 4)
    assert cfg.decoder_memory_slot_dim(2) == 8192 and cfg.decoder_memory_slot_dim(3) == 4096


def test_digitanatomy_preset_values() -> None:
    cfg = get_preset("digitanatomy")
    assert (cfg.image_size, cfg.num_patch, cfg.level, cfg.memory_channel) == (96, 3, 3, 1024)
    assert cfg.decoder_memory_slot_dim(1) == 64 * 16 * 16


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"memory_channel": 1000}, "memory_channel"),
        ({"image_size": 100}, "divisible"),
        ({"ops": ["concat"]}, "ops"),
        ({"ops": ["concat", "add", "none", "none"]}, "ops[1]"),
        ({"ratio": 0.0}, "ratio"),
        ({"shrink_thres": 500}, "shrink_thres"),
        ({"discriminator_size": 5}, "discriminator_size"),
        ({"level": "4"}, "level"),
        ({"decoder_memory": [None, None, {"kind": "diagonal", "num_memory": 4}, None]}, "kind"),
        ({"decoder_memory": [None, None, {"kind": "windowed", "num_memory": 3}, None]}, "square"),
        ({"decoder_memory": [{"kind": "per_patch", "num_memory": 4}, None, None, None]}, "stitched"),
        ({"colour": "blue"}, "unknown config keys"),
    ],
)
def test_invalid_configs_name_the_field(changes: dict, fragment: str) -> None:
    data = get_preset("paper").to_dict()
    data.update(changes)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        SquidConfig.from_dict(data)


def test_from_dict_rejects_non_objects() -> None:
    with pytest.raises(ConfigError):
        SquidConfig.from_dict([1, 2])


def test_build_model_accepts_name_config_and_dict() -> None:
    import squid_core

    small = SquidConfig(features_root=4, memory_channel=256, num_slots=8, mem_num_slots=8)
    model = squid_core.build_model(small)
    assert model.config == small and model.name == "squid"
    assert isinstance(model.generator, torch.nn.Module)
    assert isinstance(model.discriminator, torch.nn.Module)
    assert build_model(small.to_dict()).config == small
    with pytest.raises(KeyError, match="unknown preset"):
        build_model("enormous")
