"""Convolution building blocks shared by the SQUID encoder and decoders.

`ResidualConvBlock` is SQUID's basic unit: conv3x3-BN-ReLU (optionally strided),
then a conv3x3-BN-ReLU-conv3x3-BN branch added back onto it, then ReLU. Every
convolution carries a bias even when a BatchNorm follows, exactly as in the
reference implementation, so imported weights map one to one.

For inference `fuse_batchnorm` folds each eval-mode BatchNorm into the preceding
convolution (w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta),
which removes a memory pass per layer; it must only be applied to a copy used for
inference, since the folded module no longer trains like the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNorm(nn.Module):
    """A convolution followed by an optional BatchNorm (no activation)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        bias: bool = True,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=bias)
        self.norm: nn.Module = nn.BatchNorm2d(out_ch) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class ResidualConvBlock(nn.Module):
    """SQUID's double-conv block: ``relu(body(entry(x)) + entry(x))``.

    ``entry`` = conv3x3(stride)-BN-ReLU changes channels/resolution;
    ``body1`` = conv3x3-BN-ReLU and ``body2`` = conv3x3-BN form the residual branch.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.entry = ConvNorm(in_ch, out_ch, 3, stride)
        self.body1 = ConvNorm(out_ch, out_ch, 3)
        self.body2 = ConvNorm(out_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place ReLUs and add on fresh intermediates (the reference does the same):
        # fewer allocations; no tensor that autograd saves is overwritten.
        x = F.relu(self.entry(x), inplace=True)
        y = self.body2(F.relu(self.body1(x), inplace=True))
        return F.relu(y.add_(x), inplace=True)


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    new_bias = (bias - bn.running_mean) * scale + bn.bias
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def fuse_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every ConvNorm's BatchNorm into its convolution, in place; returns ``module``.

    Only valid in eval mode (running statistics); call it on an inference copy.
    """
    for sub in module.modules():
        if isinstance(sub, ConvNorm) and isinstance(sub.norm, nn.BatchNorm2d):
            _fold(sub.conv, sub.norm)
            sub.norm = nn.Identity()
    return module
