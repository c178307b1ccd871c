"""The SQUID generator: patch encoder, in-painting block, student and teacher decoders.

``generator(x)`` with x (B, 1, H, W) in [0, 1] returns a dict:

* ``recon``: student reconstruction (B, 1, H, W), the image the discriminator judges;
* ``teacher_recon``: teacher reconstruction, or None (``dist`` off or ``teacher=False``);
* ``embedding``: stitched bottleneck features before in-painting (B, C_b, N*s, N*s);
* ``queue_features``: detached reduced bottleneck features (B, P, D) to enqueue;
* training mode only: ``student_features`` and ``teacher_features``, the outputs of
  every up block, for the distillation loss (see `losses.reconstruction_losses`).

Memory-queue writes are never a side effect of ``forward``: the trainer calls
``generator.write_memory(out)`` after its optimiser step, so one forward can serve
both the discriminator and the generator update, and evaluation never alters the
queues. Everything but BatchNorm statistics in training is per-sample, so results do
not depend on the batch size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.decoder import Decoder
from squid_core.model.encoder import Encoder
from squid_core.model.inpainting import InpaintingBlock
from squid_core.model.patch_grid import merge_patches, split_patches


class SquidGenerator(nn.Module):
    """Encoder -> in-painting -> student decoder, plus the stop-gradient teacher."""

    def __init__(self, config: SquidConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.inpaint = InpaintingBlock(config)
        self.decoder = Decoder(config, with_memory=True)
        self.teacher = Decoder(config, with_memory=False) if config.dist else None

    def forward(self, x: torch.Tensor, *, teacher: bool = True) -> dict[str, Any]:
        """Run the generator.

        ``teacher=False`` skips the teacher decoder: scoring does not need it, nor does a
        discriminator-only training step; ``teacher_recon`` is then None and no
        distillation features are returned.
        """
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"generator input must be (B, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        bottleneck, skips = self.encoder(split_patches(x, cfg.num_patch))
        embedding = merge_patches(bottleneck, cfg.num_patch)
        inpainted, queue_features = self.inpaint(bottleneck)
        recon, student_features = self.decoder(inpainted, skips)
        teacher_recon = None
        teacher_features: list[torch.Tensor] = []
        if self.teacher is not None and teacher:
            teacher_recon, teacher_features = self.teacher(
                bottleneck.detach(), [s.detach() for s in skips]
            )
        out: dict[str, Any] = {
            "recon": recon,
            "teacher_recon": teacher_recon,
            "embedding": embedding,
            "queue_features": queue_features,
        }
        if self.training:
            out["student_features"] = student_features
            out["teacher_features"] = teacher_features
        return out

    @torch.no_grad()
    def write_memory(self, out: dict[str, Any]) -> None:
        """Enqueue ``out["queue_features"]`` into the per-position FIFO queues.

        Call once per generator update, after ``optimizer.step()``.
        """
        if "queue_features" not in out:
            raise KeyError("write_memory needs the dict returned by generator(x)")
        self.inpaint.queue.write(out["queue_features"])
