"""SQUID's discriminator: judges whether a reconstruction looks like a real image.

Five (by default) conv layers of kernel 5, stride 2, LeakyReLU(0.2), BatchNorm on all
but the first, then a linear layer on the flattened map to one logit. At inference
its logit on the student reconstruction is SQUID's normality score (high = real).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.conv_blocks import ConvNorm


class Discriminator(nn.Module):
    """Strided conv stack + linear head; ``forward(img (B, 1, H, W)) -> logits (B, 1)``."""

    def __init__(self, config: SquidConfig) -> None:
        super().__init__()
        chans = (config.in_channels, *config.discriminator_channels)
        k = config.discriminator_kernel
        self.layers = nn.ModuleList(
            ConvNorm(chans[i], chans[i + 1], k, 2, bias=True, norm=i > 0)
            for i in range(len(chans) - 1)
        )
        self.head = nn.Linear(chans[-1] * config.discriminator_size**2, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = img
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        with torch.autocast(x.device.type, enabled=False):  # the logit in float32
            return self.head(x.flatten(1).to(self.head.weight.dtype))
