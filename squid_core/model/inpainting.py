"""SQUID's in-painting block: re-imagine each patch from memories of its neighbours.

For the per-patch bottleneck features (B * P, C, s, s):

1. ``reduce``: 1x1 conv-BN-ReLU to C/4 channels; each patch becomes one vector of
   ``memory_channel`` = C/4 * s * s values (flattened channels-first).
2. ``queue``: each vector is re-expressed from its own grid position's FIFO queue of
   normal features (`MemoryQueue`).
3. Neighbourhood attention: the readouts are laid on the N x N grid; each patch
   attends (8 heads, its own feature as the query) to the readouts of its 8
   neighbours in a zero-padded 3 x 3 window, centre excluded. Then
   ``relu(LN(attn) + readout)`` and a feed-forward ``relu(LN(ff(h)) + h)``
   (d -> d/4 -> d), as the reference orders these operations.
4. The binary code of the grid index is appended as constant channels and a 1x1
   conv-BN-ReLU restores C channels.
5. Training only (masked shortcut): each spatial location keeps the in-painted
   feature with probability ``ratio``, else the encoder feature.

The block also returns the detached reduced features, which the trainer enqueues
with `SquidGenerator.write_memory` after the optimiser step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.conv_blocks import ConvNorm
from squid_core.model.memory_queue import MemoryQueue


def _linear(layer: nn.Linear, x: torch.Tensor, *, bias: bool = True) -> torch.Tensor:
    """``layer(x)`` in the layer's weight dtype (bf16 in a bf16 inference copy), as float32."""
    w = layer.weight
    b = layer.bias if bias else None
    flat = x.reshape(-1, x.shape[-1]).to(w.dtype)  # 2-D: a 3-D input would copy w transposed
    return F.linear(flat, w, b).float().reshape(*x.shape[:-1], w.shape[0])


def position_code(num_positions: int, bits: int) -> torch.Tensor:
    """(P, bits) binary code of each grid index, most significant bit first."""
    idx = torch.arange(num_positions)
    shifts = torch.arange(bits - 1, -1, -1)
    return ((idx[:, None] >> shifts[None, :]) & 1).float()


class NeighbourAttention(nn.Module):
    """Multi-head attention from each patch to its 8 grid neighbours' memory readouts.

    Zero padding at the grid border yields zero neighbour vectors, whose keys and
    values are just the projection biases (not masked), as in the reference's
    ``nn.MultiheadAttention`` over an unfolded, zero-padded grid. Keys/values are
    projected once per grid cell and then gathered, which is cheaper than
    projecting the 8 gathered copies.
    """

    def __init__(self, dim: int, heads: int, grid: int) -> None:
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.grid = grid
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        # Window positions 0..8 without the centre (4), as indices rather than a boolean
        # mask: indexing with a mask has a data-dependent shape, which splits a
        # torch.compile graph at every call.
        self.register_buffer("neighbours", torch.tensor([0, 1, 2, 3, 5, 6, 7, 8]),
                             persistent=False)

    def forward(self, queries: torch.Tensor, readouts: torch.Tensor) -> torch.Tensor:
        """queries, readouts (B, P, D) -> (B, P, D)."""
        b, p, d = queries.shape
        g, h = self.grid, self.heads
        q = _linear(self.query, queries).reshape(b, p, h, d // h)
        kv = _linear(self.key_value, readouts, bias=False)  # bias added after padding
        kv = kv.transpose(1, 2).reshape(b, 2 * d, g, g)
        kv = F.unfold(kv, 3, padding=1).reshape(b, 2 * d, 9, p)[:, :, self.neighbours]
        kv = kv.permute(0, 3, 2, 1) + self.key_value.bias.float()  # (B, P, 8, 2D)
        k, v = kv.reshape(b, p, 8, 2, h, d // h).unbind(3)
        scores = torch.einsum("bphe,bpkhe->bphk", q, k) / math.sqrt(d // h)
        attn = torch.softmax(scores, dim=-1)
        ctx = torch.einsum("bphk,bpkhe->bphe", attn, v).reshape(b, p, d)
        return _linear(self.out, ctx)


class InpaintingBlock(nn.Module):
    """Memory queue + neighbourhood attention + position code + masked shortcut."""

    def __init__(self, config: SquidConfig) -> None:
        super().__init__()
        c = config.bottleneck_channels
        d = config.memory_channel
        self.num_positions = config.num_positions
        self.ratio = config.ratio
        self.reduce = ConvNorm(c, c // 4, 1, bias=False)
        self.queue = MemoryQueue(config.num_positions, config.num_slots, d, config.shrink_thres)
        self.attention = NeighbourAttention(d, config.attention_heads, config.num_patch)
        self.attn_norm = nn.LayerNorm(d)
        self.ff_in = nn.Linear(d, d // 4)
        self.ff_out = nn.Linear(d // 4, d)
        self.ff_drop = nn.Dropout(config.drop)
        self.ff_norm = nn.LayerNorm(d)
        self.register_buffer(
            "code", position_code(config.num_positions, config.position_bits), persistent=False
        )
        self.expand = ConvNorm(c // 4 + config.position_bits, c, 1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B * P, C, s, s) -> (in-painted features like x, queue features (B, P, D)).

        Runs in float32 even under autocast: the top-k memory addressing, the attention
        softmax and the LayerNorms are precision-sensitive. Only the linear layers
        follow their own weight dtype (bfloat16 in a bf16 inference copy, where reading
        their 19 M weights dominates the block's time at batch 1).
        """
        with torch.autocast(x.device.type, enabled=False):
            return self._forward(x.float())

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, s, _ = x.shape
        p = self.num_positions
        b = n // p
        f = F.relu(self.reduce(x))
        queries = f.reshape(b, p, -1)
        readouts = self.queue(queries)
        h = F.relu(self.attn_norm(self.attention(queries, readouts)) + readouts)
        ff = self.ff_drop(_linear(self.ff_out, self.ff_drop(F.relu(_linear(self.ff_in, h)))))
        h = F.relu(self.ff_norm(ff) + h)
        feat = h.reshape(n, c // 4, s, s)
        code = self.code.to(feat.dtype)[None, :, :, None, None].expand(b, -1, -1, s, s)
        code = code.reshape(n, -1, s, s)
        y = F.relu(self.expand(torch.cat([feat, code], dim=1)))
        if self.training:
            keep = torch.bernoulli(torch.full((n, 1, s, s), self.ratio, device=x.device))
            keep = keep.to(y.dtype)
            y = keep * y + (1 - keep) * x
        return y, queries.detach()
