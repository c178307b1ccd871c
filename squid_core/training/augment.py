"""Training augmentation on whole batches: the paper's recipe and an acquisition one.

``paper`` (the default): the SQUID recipe augments normal training images with a
small random affine transform (translate 5 %, scale 0.95-1.05, zero fill).
``acquisition`` (:func:`acquisition_augment`; measured with standardisation, seed 0: behind
at 32 epochs, level with the paper recipe and more robust at 60, see ``docs/robustness.md``): zoom, exposure, contrast, sharpness and noise over the range
sites differ in, so that the score may learn to ignore them.

Both work on the batch tensor (``affine_grid``/``grid_sample``), a fraction of a
millisecond per image with no per-image PIL round trip; the random parameters come from torch's global CPU generator, whose state the
checkpoint saves, so a resumed run draws the same transforms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_affine", "acquisition_augment", "augment_batch", "RECIPES",
           "ACQUISITION_RANGES"]


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


#: Augmentation recipes selectable for training (``TrainConfig.augment_recipe``).
RECIPES = ("paper", "acquisition")

#: Ranges of :func:`acquisition_augment` (see its docstring).
ACQUISITION_RANGES = {
    "zoom": (1 / 1.25, 1.25),  # < 1 zooms out (edge-replicated border), > 1 zooms in
    "translate": 0.05,
    "gamma": (0.7, 1.4),
    "contrast": (0.8, 1.25),
    "sharpness": (-0.7, 1.0),  # < 0 softens (blur), > 0 sharpens (unsharp mask)
    "noise": (0.0, 0.03),
}


def _log_uniform(u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)


def _gaussian_blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    r = max(1, round(2.5 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def acquisition_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random acquisition variation per image, spanning what sites differ in.

    ``x``: (B, C, H, W) float in [0, 1]. Per image, drawn independently: a zoom
    log-uniform in 0.8-1.25 (out to in; the border of a zoom-out replicates the edge
    pixels, as a wider collimation shows more of the body, never a black frame) with a
    translation of up to 5 %; a gamma log-uniform in 0.7-1.4 (exposure / processing
    curve); a contrast factor log-uniform in 0.8-1.25 around mid-grey; a detector
    sharpness from soft to crisp (``x + a * (x - blur(x))``, ``a`` in -0.7..1.0, blur
    sigma 1 px); additive Gaussian noise with a standard deviation up to 0.03. The
    ranges span :func:`squid_core.scoring.nuisance.nuisance_family`'s strengths, so the
    robustness yardstick measures what this recipe was meant to teach. Random numbers
    come from torch's CPU generator (checkpointed, so a resumed run draws the same).
    """
    r = ACQUISITION_RANGES
    b = x.shape[0]
    u = torch.rand(b, 8, generator=generator)
    zoom = _log_uniform(u[:, 0], *r["zoom"])
    shift = (u[:, 1:3] * 2 - 1) * r["translate"] * 2
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1 / zoom
    theta[:, 1, 1] = 1 / zoom
    theta[:, :, 2] = -shift / zoom[:, None]
    dtype = x.dtype if x.is_floating_point() else torch.float32
    x = x.to(dtype)
    theta = theta.to(device=x.device, dtype=dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def per_image(v: torch.Tensor) -> torch.Tensor:
        return v.to(device=x.device, dtype=dtype).view(b, 1, 1, 1)

    x = x.clamp(0, 1) ** per_image(_log_uniform(u[:, 3], *r["gamma"]))
    x = 0.5 + per_image(_log_uniform(u[:, 4], *r["contrast"])) * (x - 0.5)
    lo, hi = r["sharpness"]
    x = x + per_image(lo + (hi - lo) * u[:, 5]) * (x - _gaussian_blur(x))
    noise_sd = per_image(r["noise"][0] + (r["noise"][1] - r["noise"][0]) * u[:, 6])
    noise = torch.randn(x.shape, generator=generator).to(device=x.device, dtype=dtype)
    return (x + noise_sd * noise).clamp(0, 1)


def augment_batch(x: torch.Tensor, recipe: str, translate: float = 0.05,
                  scale_range: tuple[float, float] = (0.95, 1.05)) -> torch.Tensor:
    """Apply the named recipe: ``paper`` (:func:`random_affine`) or ``acquisition``."""
    if recipe == "paper":
        return random_affine(x, translate, scale_range)
    if recipe == "acquisition":
        return acquisition_augment(x)
    raise ValueError(f"unknown augmentation recipe {recipe!r} (known: {', '.join(RECIPES)})")
