"""One SQUID GAN training step: discriminator every step, generator every n_critic.

One generator forward serves both updates (the reference runs it twice). On steps
without a generator update the forward runs under ``no_grad`` (no graph kept); on
generator steps its graph is kept, the discriminator is updated on the *detached*
reconstruction, then the generator loss is built from the same output:

    L_D = w_d * (BCE(D(x), 1) + BCE(D(recon.detach()), 0))
    L_G = w_s * MSE_student + w_t * MSE_teacher + w_dist * distill + w_g * BCE(D(recon), 1)

After the generator's optimiser step the memory queues are written with this step's
features (``generator.write_memory``), never by gradient.

Distributed runs pass ``nets`` (:class:`~squid_core.training.distributed.DistributedNets`):
the DDP wrappers average the gradients over the ranks, and the queues are written
with the features of the whole global batch, gathered from every rank in rank order.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from squid_core.training.config import LossWeights

__all__ = ["Optimisers", "gan_step"]


@dataclass
class Optimisers:
    """The two Adam optimisers and the generator's cosine schedule."""

    gen: torch.optim.Optimizer
    disc: torch.optim.Optimizer
    gen_schedule: torch.optim.lr_scheduler.LRScheduler


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def gan_step(
    model,
    x: torch.Tensor,
    opt: Optimisers,
    weights: LossWeights,
    *,
    update_generator: bool,
    bf16: bool = False,
    nets=None,
) -> dict[str, float]:
    """Run one step on batch ``x`` (modules in train mode); return the weighted losses.

    ``nets``: DDP wrappers of a distributed run (None: single process).
    """
    from squid_core.model.losses import reconstruction_losses

    gen, disc = model.generator, model.discriminator
    # The DDP generator only where its forward builds a graph (generator steps); the
    # plain one under no_grad on discriminator-only steps (nothing to reduce).
    gen_fwd = nets.generator if nets is not None and update_generator else gen
    disc_fwd = nets.discriminator if nets is not None else disc
    dev = x.device.type
    autocast = (lambda: torch.autocast(dev, dtype=torch.bfloat16)) if bf16 else nullcontext
    losses: dict[str, float] = {}

    with autocast(), (nullcontext() if update_generator else torch.no_grad()):
        # The teacher only feeds generator losses: skip it on discriminator-only steps.
        out = gen_fwd(x, teacher=update_generator)
    recon = out["recon"]

    # Discriminator: real images vs. the detached reconstruction.
    opt.disc.zero_grad(set_to_none=True)
    with autocast():
        d_real = disc_fwd(x)
        d_fake = disc_fwd(recon.detach())
    d_loss = weights.disc * (_bce(d_real, 1.0) + _bce(d_fake, 0.0))
    d_loss.backward()
    opt.disc.step()
    losses["d"] = float(d_loss.detach())

    if not update_generator:
        return losses

    # Generator: same forward output; D's weights get no gradient from this loss (so
    # the plain D, never its DDP wrapper, whose reducer would wait for gradients).
    opt.gen.zero_grad(set_to_none=True)
    trainable = [p for p in disc.parameters() if p.requires_grad]  # frozen ones stay frozen
    for p in trainable:
        p.requires_grad_(False)
    try:
        with autocast():  # autocast also runs the MSE terms in float32
            g_fake = disc(recon)
            rec = reconstruction_losses(out, x)
        g_adv = weights.gen_adv * _bce(g_fake, 1.0)
        terms = {
            "student": weights.student * rec["student"].float(),
            "teacher": weights.teacher * rec["teacher"].float(),
            "distill": weights.distill * rec["distill"].float(),
            "g_adv": g_adv,
        }
        g_loss = sum(terms.values())
        g_loss.backward()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    opt.gen.step()
    if nets is not None:
        out = {**out, "queue_features": nets.gather(out["queue_features"])}
    gen.write_memory(out)
    losses.update({k: float(v.detach()) for k, v in terms.items()})
    losses["g"] = float(g_loss.detach())
    return losses
