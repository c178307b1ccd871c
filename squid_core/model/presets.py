"""Named SquidConfig presets.

``paper``
    The ZhangLab / CheXpert configuration of the reference ("zhang_best"): 128 px,
    2 x 2 patches, 4 levels, features_root 32, memory_channel 2048, 200 queue slots
    and 200 decoder-memory slots, top-5 shrinkage, masked shortcut 0.95, windowed
    decoder memories after the two deepest up blocks, teacher distillation.
    44.47 M generator + 0.68 M discriminator parameters (+1.64 M queue entries, buffers).
    15.40 GFLOPs per image as the reference computes it (generator incl. teacher +
    discriminator); 14.85 here, because the neighbourhood attention projects keys and
    values once per grid cell instead of once per (cell, neighbour) and inference
    reads memories by gathering the k weighted slots; 9.42 for scoring, which skips
    the teacher decoder.
``digitanatomy``
    The DigitAnatomy configuration ("digit_best"): 96 px, 3 x 3 patches, 3 levels,
    features_root 32, memory_channel 1024, stitching after the first level, one
    memory matrix per grid position after the two deepest up blocks (the reference's
    MemoryMatrixBlockV3, constructed as its config intends). 52.88 M generator
    parameters, 6.62 GFLOPs per image (4.24 for scoring).
``compact``
    A CPU-friendly variant of ``paper`` for training on a workstation: features_root
    16 (every width halved, memory_channel 1024), 100 queue / matrix slots. Same
    structure, patch grid and input size as the paper, so it scores the same images
    the same way. 11.13 M generator + 0.68 M discriminator parameters, 3.79 GFLOPs per
    image (2.43 for scoring), about 4x cheaper than ``paper``.

The figures are measured by ``bench/inference.py`` (torch.utils.flop_counter,
counting a multiply-add as 2 FLOPs) and asserted by the tests.
"""

from __future__ import annotations

from squid_core.model.config import DecoderMemorySpec, SquidConfig

PAPER = SquidConfig()

DIGITANATOMY = SquidConfig(
    image_size=96,
    num_patch=3,
    level=3,
    features_root=32,
    memory_channel=1024,
    num_slots=200,
    mem_num_slots=200,
    shrink_thres=5,
    initial_combine=1,
    ops=("concat", "concat", "none"),
    decoder_memory=(None, DecoderMemorySpec("per_patch", 9), DecoderMemorySpec("per_patch", 9)),
    discriminator_size=3,
)

COMPACT = SquidConfig(
    features_root=16,
    memory_channel=1024,
    num_slots=100,
    mem_num_slots=100,
)

PRESETS: dict[str, SquidConfig] = {
    "paper": PAPER,
    "digitanatomy": DIGITANATOMY,
    "compact": COMPACT,
}


def get_preset(name: str) -> SquidConfig:
    """The preset called ``name``; raises KeyError listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
