"""SQUID decoders: the student (with memory matrices) and the stop-gradient teacher.

Each of the ``level`` up blocks bilinearly resizes its input to the size of the
matching encoder skip, optionally concatenates the skip in front (``ops``: "concat"
or "none"), and applies a `ResidualConvBlock`. Per-patch features are stitched into
whole images before the up block that produces stage ``initial_combine - 1``.
The student applies a `DecoderMemory` after the stages named in
``config.decoder_memory``; the teacher has the same shape without memories and is
fed detached encoder features, so it learns a plain auto-encoder whose features the
student is distilled towards (MSE after every up block).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.conv_blocks import ResidualConvBlock
from squid_core.model.memory_matrix import DecoderMemory
from squid_core.model.patch_grid import merge_patches


class Decoder(nn.Module):
    """Up-sampling decoder from the per-patch bottleneck to a sigmoid image."""

    def __init__(self, config: SquidConfig, *, with_memory: bool) -> None:
        super().__init__()
        self.level = config.level
        self.num_patch = config.num_patch
        self.initial_combine = config.initial_combine
        self.ops = tuple(config.ops)
        self.ups = nn.ModuleList()
        for k, op in enumerate(config.ops):
            stage = config.level - 1 - k
            in_ch = config.channels(stage + 1)
            if op == "concat":
                in_ch += config.channels(stage)
            self.ups.append(ResidualConvBlock(in_ch, config.channels(stage)))
        self.memories: nn.ModuleList | None = None
        if with_memory:
            self.memories = nn.ModuleList(
                nn.Identity() if spec is None else DecoderMemory(
                    spec.kind,
                    spec.num_memory,
                    config.mem_num_slots,
                    config.decoder_memory_slot_dim(stage),
                    config.shrink_thres,
                    config.decoder_memory_ratio,
                )
                for stage, spec in enumerate(config.decoder_memory)
            )
        self.head = nn.Conv2d(config.channels(0), config.in_channels, 1)

    def forward(
        self, x: torch.Tensor, skips: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B * P, C_b, s, s), skips from the encoder -> (image (B, 1, H, W), stage features)."""
        features: list[torch.Tensor] = []
        for k, up in enumerate(self.ups):
            stage = self.level - 1 - k
            if stage == self.initial_combine - 1:
                x = merge_patches(x, self.num_patch)
            skip = skips[stage]
            if x.shape[-2:] != skip.shape[-2:]:
                # Outside autocast: CPU autocast would upcast bf16 to float32 and back.
                with torch.autocast(x.device.type, enabled=False):
                    x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear",
                                      align_corners=False)
            if self.ops[k] == "concat":
                x = torch.cat([skip, x], dim=1)
            x = up(x)
            if self.memories is not None:
                x = self.memories[stage](x)
            features.append(x)
        if self.initial_combine == 0:
            x = merge_patches(x, self.num_patch)
        with torch.autocast(x.device.type, enabled=False):  # the image itself in float32
            image = torch.sigmoid(self.head(x.to(self.head.weight.dtype)))
        return image, features
