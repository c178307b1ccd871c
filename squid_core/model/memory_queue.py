"""Space-aware memory queue: one FIFO of recent normal features per grid position.

SQUID keeps, for every patch position, the last ``num_slots`` bottleneck features
seen in training (detached: the queue is filled by `write`, never by gradients) and
re-expresses each query as a sparse combination of them. The read is dot-product
attention followed by the reference's "Gumbel" shrinkage (`sparse_address`):
softmax, drop everything not strictly above the k-th largest weight, L1-renormalise,
and pass gradients straight through the dense softmax.

All positions are read in one batched matmul (no Python loop), and the write
pointer is a buffer, so a saved model resumes its FIFO exactly where it stopped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sparse_address(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k shrinkage of attention ``logits`` over the last dimension.

    Computes w = softmax(logits); keeps ``w * relu(w - t) / (|w - t| + 1e-12)`` where
    t is the k-th largest weight (so entries equal to t vanish: k-1 survive without
    ties, exactly as the reference's hard_shrink_relu), renormalises to unit L1 norm,
    and, when gradients are needed, uses the straight-through estimator
    ``sparse.detach() - w.detach() + w``.
    """
    w = torch.softmax(logits, dim=-1)
    kth = torch.topk(w, k, dim=-1).values[..., -1:]
    wd = w.detach()
    shrunk = F.relu(wd - kth) * wd / (torch.abs(wd - kth) + 1e-12)
    shrunk = shrunk / shrunk.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    if torch.is_grad_enabled() and w.requires_grad:
        return (shrunk - wd) + w
    return shrunk


def read_memory(queries: torch.Tensor, slots: torch.Tensor, k: int) -> torch.Tensor:
    """Batched sparse read: queries (M, N, D), slots (M, S, D) -> (M, N, D).

    Without autograd the readout gathers only the k slots that can carry weight
    instead of multiplying by the dense (mostly zero) weight matrix: the same sum,
    with one pass over the slots instead of two.
    """
    logits = torch.bmm(queries, slots.transpose(1, 2))
    weights = sparse_address(logits, k)
    if torch.is_grad_enabled() and (weights.requires_grad or slots.requires_grad):
        return torch.bmm(weights, slots)
    top_w, top_i = torch.topk(weights, k, dim=-1)  # every non-zero weight is among these
    m, n, _ = queries.shape
    rows = slots.gather(1, top_i.reshape(m, n * k, 1).expand(-1, -1, slots.shape[-1]))
    return torch.einsum("mnk,mnkd->mnd", top_w, rows.reshape(m, n, k, -1))


class MemoryQueue(nn.Module):
    """``num_positions`` FIFO queues of ``num_slots`` x ``dim`` features.

    Buffers: ``slots`` (P, S, D) and ``pointer`` (P,) int64, the next slot to write.
    Initial slots are uniform in +-1/sqrt(D), as in the reference.
    """

    def __init__(self, num_positions: int, num_slots: int, dim: int, top_k: int) -> None:
        super().__init__()
        self.num_positions = num_positions
        self.num_slots = num_slots
        self.dim = dim
        self.top_k = top_k
        bound = 1.0 / math.sqrt(dim)
        self.register_buffer("slots", torch.empty(num_positions, num_slots, dim).uniform_(-bound, bound))
        self.register_buffer("pointer", torch.zeros(num_positions, dtype=torch.int64))

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """Read: queries (B, P, D) -> memory readout (B, P, D). No gradient reaches the slots."""
        slots = self.slots.to(queries.dtype).detach()
        out = read_memory(queries.transpose(0, 1), slots, self.top_k)
        return out.transpose(0, 1)

    @torch.no_grad()
    def write(self, values: torch.Tensor) -> None:
        """Enqueue values (B, P, D) at every position, oldest slots overwritten first.

        With B > num_slots only the newest num_slots values are kept, as a FIFO would.
        """
        if values.dim() != 3 or values.shape[1:] != (self.num_positions, self.dim):
            raise ValueError(
                f"queue write expects (B, {self.num_positions}, {self.dim}), got {tuple(values.shape)}"
            )
        values = values.detach().to(self.slots.dtype)
        b = values.shape[0]
        start = self.pointer
        if b > self.num_slots:
            start = (start + b - self.num_slots) % self.num_slots
            values = values[-self.num_slots:]
        n = values.shape[0]
        idx = (start[:, None] + torch.arange(n, device=start.device)[None, :]) % self.num_slots
        self.slots.scatter_(
            1, idx[:, :, None].expand(-1, -1, self.dim), values.transpose(0, 1).contiguous()
        )
        self.pointer.copy_((self.pointer + b) % self.num_slots)
