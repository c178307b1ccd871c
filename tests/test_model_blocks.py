"""The SQUID building blocks against straightforward formulations of the reference maths."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from squid_core.model.config import DecoderMemorySpec, SquidConfig
from squid_core.model.inpainting import NeighbourAttention, position_code
from squid_core.model.memory_matrix import DecoderMemory
from squid_core.model.memory_queue import sparse_address
from squid_core.model.patch_grid import merge_patches, split_patches


def test_patch_split_merge_round_trip_and_order() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    p = split_patches(x, 2)
    assert p.shape == (8, 1, 2, 2)
    assert torch.equal(p[1, 0], x[0, 0, :2, 2:])  # row-major grid: patch 1 = top right
    assert torch.equal(p[6, 0], x[1, 0, 2:, :2])
    assert torch.equal(merge_patches(p, 2), x)


def test_sparse_address_keeps_entries_above_kth_and_renormalises() -> None:
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0, -1.0]])
    w = sparse_address(logits, k=3)
    soft = torch.softmax(logits, -1)
    assert torch.allclose(w.sum(-1), torch.ones(1))
    assert (w[0, 2:] == 0).all()  # the k-th entry itself vanishes, as in the reference
    expected = soft[0, :2] * (soft[0, :2] - soft[0, 2]) / (soft[0, :2] - soft[0, 2] + 1e-12)
    assert torch.allclose(w[0, :2], expected / expected.sum(), atol=1e-6)


def test_sparse_address_straight_through_gradient() -> None:
    logits = torch.randn(3, 10, requires_grad=True)
    w = sparse_address(logits, 5)
    (w * torch.arange(10.0)).sum().backward()
    soft = torch.softmax(logits.detach(), -1)
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert torch.allclose(w.detach().sum(-1), torch.ones(3))
    assert not torch.allclose(w.detach(), soft)


def test_neighbour_attention_matches_multihead_attention_on_unfolded_grid() -> None:
    torch.manual_seed(0)
    d, heads, g, b = 32, 8, 3, 2
    ours = NeighbourAttention(d, heads, g)
    mha = torch.nn.MultiheadAttention(d, heads)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key_value.weight]))
        mha.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key_value.bias]))
        mha.out_proj.weight.copy_(ours.out.weight)
        mha.out_proj.bias.copy_(ours.out.bias)
    q = torch.randn(b, g * g, d)
    r = torch.randn(b, g * g, d)
    # The reference's formulation: zero-padded 3x3 unfold of the readout grid, centre removed.
    grid = r.transpose(1, 2).reshape(b, d, g, g)
    nb = F.unfold(grid, 3, padding=1).reshape(b, d, 9, g * g).permute(0, 3, 2, 1)
    nb = nb[:, :, [0, 1, 2, 3, 5, 6, 7, 8]].reshape(b * g * g, 8, d).transpose(0, 1)
    ref = mha(q.reshape(1, b * g * g, d), nb, nb)[0].reshape(b, g * g, d)
    assert torch.allclose(ours(q, r), ref, atol=1e-5)


def _loop_memory(x: torch.Tensor, slots: torch.Tensor, k: int, kind: str) -> torch.Tensor:
    """One memory at a time, the reference's loop structure."""
    n, c, h, w = x.shape
    m = slots.shape[0]
    out = torch.empty_like(x)
    if kind == "per_patch":
        for i in range(n):
            q = x[i].reshape(1, -1)
            j = i % m
            out[i] = (sparse_address(q @ slots[j].T, k) @ slots[j]).reshape(c, h, w)
        return out
    g = math.isqrt(m)
    wh = h // g
    for i in range(n):
        for gy in range(g):
            for gx in range(g):
                win = x[i, :, gy * wh:(gy + 1) * wh, gx * wh:(gx + 1) * wh]
                q = win.permute(1, 2, 0).reshape(1, -1)  # channels-last window vector
                s = slots[gy * g + gx]
                r = (sparse_address(q @ s.T, k) @ s).reshape(wh, wh, c).permute(2, 0, 1)
                out[i, :, gy * wh:(gy + 1) * wh, gx * wh:(gx + 1) * wh] = r
    return out


def test_decoder_memories_match_loop_formulation() -> None:
    torch.manual_seed(1)
    for kind, m, dim in (("windowed", 4, 4 * 2 * 2), ("per_patch", 4, 4 * 4 * 4)):
        mem = DecoderMemory(kind, m, 16, dim, 3, 0.95).eval()
        x = torch.randn(8, 4, 4, 4)
        with torch.no_grad():
            assert torch.allclose(mem(x), _loop_memory(x, mem.slots, 3, kind), atol=1e-5)


def test_position_code_is_msb_first_binary() -> None:
    code = position_code(4, 3)
    assert code.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert SquidConfig(image_size=96, num_patch=3, level=3, memory_channel=1024,
                       initial_combine=1, ops=("concat", "concat", "none"),
                       decoder_memory=(None, DecoderMemorySpec("per_patch", 9),
                                       DecoderMemorySpec("per_patch", 9)),
                       discriminator_size=3).position_bits == 4
