"""SQUID encoder: a stem block and ``level`` stride-2 residual blocks, run on patches.

The image is cut into ``num_patch x num_patch`` patches that are encoded as one
batch. Skip features of the first ``initial_combine`` levels are stitched back into
whole images (the decoder stitches its patches at that depth, so the skips must
match); deeper skips stay per patch.
"""

from __future__ import annotations

import torch
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.conv_blocks import ResidualConvBlock
from squid_core.model.patch_grid import merge_patches


class Encoder(nn.Module):
    """Patch encoder returning the per-patch bottleneck and the skip features."""

    def __init__(self, config: SquidConfig) -> None:
        super().__init__()
        self.num_patch = config.num_patch
        self.initial_combine = config.initial_combine
        self.stem = ResidualConvBlock(config.in_channels, config.channels(0))
        self.downs = nn.ModuleList(
            ResidualConvBlock(config.channels(i), config.channels(i + 1), stride=2)
            for i in range(config.level)
        )

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """patches (B * P, C, p, p) -> bottleneck (B * P, C_b, s, s), skips[0 .. level-1]."""
        x = self.stem(patches)
        skips: list[torch.Tensor] = []
        for stage, down in enumerate(self.downs):
            skips.append(merge_patches(x, self.num_patch) if stage < self.initial_combine else x)
            x = down(x)
        return x, skips
