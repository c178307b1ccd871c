"""Cutting images into an N x N grid of patches and stitching them back.

Patches are laid out batch-major, then row-major over the grid: patch ``p`` of
image ``b`` is row ``b * N * N + p``, with ``p = row * N + col``. The reference
implementation uses the same order (via unfold), so per-position memories line up.
"""

from __future__ import annotations

import torch


def split_patches(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * n * n, C, H / n, W / n)."""
    if n == 1:
        return x
    b, c, h, w = x.shape
    x = x.reshape(b, c, n, h // n, n, w // n).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b * n * n, c, h // n, w // n)


def merge_patches(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B * n * n, C, h, w) -> (B, C, n * h, n * w); the inverse of `split_patches`."""
    if n == 1:
        return x
    bp, c, h, w = x.shape
    b = bp // (n * n)
    x = x.reshape(b, n, n, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, n * h, n * w)
