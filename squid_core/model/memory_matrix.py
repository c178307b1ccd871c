"""Decoder memory matrices: learnable prototypes that regularise decoder features.

After selected decoder stages SQUID replaces each feature block by its sparse
re-expression over a learnable ``mem_num_slots`` x D matrix (top-k shrinkage, see
`memory_queue.sparse_address`), one matrix per position:

* ``windowed`` (paper config): the feature map of each patch or image is cut into a
  square grid of ``num_memory`` windows; window ``j`` (row-major) uses matrix ``j``;
  a window is flattened channels-last (y, x, C).
* ``per_patch`` (DigitAnatomy config): grid position ``p`` uses matrix ``p`` for the
  whole per-patch map, flattened channels-first (C, y, x).

Both layouts are the reference's, so imported matrices work unchanged. In training,
each spatial location keeps the memory output with probability ``ratio`` and the
input otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from squid_core.model.memory_queue import read_memory


class DecoderMemory(nn.Module):
    """Learnable per-position memory matrices ``slots`` (M, S, D)."""

    def __init__(
        self, kind: str, num_memory: int, num_slots: int, dim: int, top_k: int, ratio: float
    ) -> None:
        super().__init__()
        self.kind = kind
        self.num_memory = num_memory
        self.top_k = top_k
        self.ratio = ratio
        bound = 1.0 / math.sqrt(dim)
        self.slots = nn.Parameter(torch.empty(num_memory, num_slots, dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) -> same shape; float32 even under autocast (top-k is precision-sensitive)."""
        with torch.autocast(x.device.type, enabled=False):
            return self._forward(x.float())

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        m = self.num_memory
        slots = self.slots.float()
        if self.kind == "per_patch":
            q = x.reshape(n // m, m, c * h * w).transpose(0, 1)
            out = read_memory(q, slots, self.top_k).transpose(0, 1).reshape(n, c, h, w)
        else:
            g = math.isqrt(m)
            wh, ww = h // g, w // g
            q = x.permute(0, 2, 3, 1).reshape(n, g, wh, g, ww, c).permute(1, 3, 0, 2, 4, 5)
            out = read_memory(q.reshape(m, n, wh * ww * c), slots, self.top_k)
            out = out.reshape(g, g, n, wh, ww, c).permute(2, 5, 0, 3, 1, 4).reshape(n, c, h, w)
        if self.training:
            keep = torch.bernoulli(torch.full((n, 1, h, w), self.ratio, device=x.device))
            out = keep.to(out.dtype) * out + (1 - keep.to(out.dtype)) * x
        return out
