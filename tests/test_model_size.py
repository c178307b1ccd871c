"""The paper preset has the reference's size; FLOPs as measured by torch.utils.flop_counter."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from squid_core.model import build_model


def _params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def test_paper_parameter_counts_and_flops() -> None:
    model = build_model("paper").eval()
    assert abs(_params(model.generator) - 44.47) < 0.01
    assert abs(_params(model.discriminator) - 0.68) < 0.01
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.discriminator(model.generator(torch.rand(1, 1, 128, 128))["recon"])
    gflops = counter.get_total_flops() / 1e9
    # The reference's count is 15.40. Ours is lower by two exact rewrites of the same maths:
    # keys/values are projected once per grid cell instead of once per (cell, neighbour),
    # and at inference a memory readout gathers the k weighted slots instead of a dense
    # product with the (mostly zero) weights.
    cfg = model.config
    kv_saved = 7 * cfg.num_positions * 2 * cfg.memory_channel * (2 * cfg.memory_channel)
    dense_readouts = 2 * cfg.num_positions * cfg.num_slots * cfg.memory_channel + sum(
        2 * spec.num_memory * cfg.num_positions * cfg.mem_num_slots * cfg.decoder_memory_slot_dim(i)
        for i, spec in enumerate(cfg.decoder_memory) if spec is not None
    )
    assert abs(gflops - 14.85) < 0.02
    assert abs(gflops + (kv_saved + dense_readouts) / 1e9 - 15.40) < 0.02


def test_compact_and_digitanatomy_sizes() -> None:
    compact = build_model("compact")
    assert abs(_params(compact.generator) - 11.13) < 0.01
    digit = build_model("digitanatomy").eval()
    with torch.inference_mode():
        out = digit.generator(torch.rand(2, 1, 96, 96))
    assert out["recon"].shape == (2, 1, 96, 96)
    assert out["embedding"].shape == (2, 256, 12, 12)
