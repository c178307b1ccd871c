"""Random affine augmentation on whole batches (translate 5%, scale 0.95-1.05).

The SQUID recipe augments normal training images with a small random affine
transform. Doing it on the batch tensor with ``affine_grid``/``grid_sample`` costs a
fraction of a millisecond per image and needs no per-image PIL round trip; the
random parameters come from torch's global CPU generator, whose state the
checkpoint saves, so a resumed run draws the same transforms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["random_affine"]


def random_affine(
    x: torch.Tensor,
    translate: float = 0.05,
    scale_range: tuple[float, float] = (0.95, 1.05),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Translate each image by up to ``translate`` of its size and scale it, zero fill.

    ``x``: (B, C, H, W) float. Translation is drawn uniformly in
    ``[-translate, translate]`` of the width/height per axis, scale uniformly in
    ``scale_range`` (the same for both axes), as torchvision's ``RandomAffine``.
    """
    b = x.shape[0]
    u = torch.rand(b, 3, generator=generator)  # CPU draw: device-independent sequence
    scale = scale_range[0] + (scale_range[1] - scale_range[0]) * u[:, 0]
    # affine_grid maps output to input coordinates in [-1, 1]: a shift of t of the
    # image size is 2t there, and zooming in by s samples a 1/s smaller area.
    shift = (u[:, 1:] * 2 - 1) * translate * 2
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1 / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = -shift / scale[:, None]
    theta = theta.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
