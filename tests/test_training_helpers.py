"""Tiny models and data for fast training tests (32 x 32 images, ~40k parameters)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

import squid_core
from squid_core.model.config import DecoderMemorySpec, SquidConfig
from squid_core.training.datasets import ImageSet

TINY = SquidConfig(
    image_size=32, num_patch=2, level=2, features_root=4, memory_channel=64, num_slots=10,
    mem_num_slots=10, shrink_thres=3, initial_combine=1, ops=("concat", "none"),
    decoder_memory=(None, DecoderMemorySpec("windowed", 4)), discriminator_size=8,
    discriminator_channels=(4, 8),
)


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return squid_core.build_model(TINY)


def blob_images(n: int, seed: int, size: int = 32, abnormal: bool = False) -> np.ndarray:
    """Smooth 'anatomy' (a centred bright disc), abnormal ones with an extra square."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        cx, cy = size / 2 + rng.normal(0, 1, 2)
        img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (size / 5) ** 2))
        img = 0.8 * img + 0.05 * rng.random((size, size))
        if abnormal:
            x0, y0 = rng.integers(2, size - 10, 2)
            img[y0 : y0 + 8, x0 : x0 + 8] = 1.0
        out.append(img.astype(np.float32))
    return np.stack(out) if out else np.zeros((0, size, size), np.float32)


def image_set(n_normal: int, n_abnormal: int = 0, seed: int = 0) -> ImageSet:
    arr = np.concatenate([blob_images(n_normal, seed), blob_images(n_abnormal, seed + 1, abnormal=True)])
    labels = torch.tensor([0] * n_normal + [1] * n_abnormal)
    return ImageSet(torch.from_numpy(arr[:, None]).half(), labels,
                    [Path(f"img{i}.png") for i in range(len(arr))])


def write_pngs(folder: Path, n: int, seed: int, abnormal: bool = False, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(blob_images(n, seed, size=size, abnormal=abnormal)):
        cv2.imwrite(str(folder / f"{'a' if abnormal else 'n'}{i:03d}.png"),
                    (img * 255).clip(0, 255).astype(np.uint8))
    return folder
