"""An exponential moving average (EMA) of the generator's and discriminator's weights.

Why: SQUID's validation AUC swings from epoch to epoch (model 1.1's run read 0.28 to
0.83 between neighbouring epochs, and issue 15 measured a 0.15 AUC gap between the
chosen and the last epoch), because the discriminator that scores is itself a moving
GAN player. Validating, keeping and writing an average of the weights over the last
~1/(1-decay) steps is the usual remedy; ``squid train --ema DECAY`` turns it on
(docs/robustness.md says what it measured).

Only parameters are averaged. Buffers (BatchNorm statistics, the memory matrix's
items and its write pointer) are always the live network's: an average of memory
items from different steps is no memory the generator ever read, and integer
pointers have no average. While :meth:`WeightAverage.applied` is active the model
holds the averaged parameters and its own buffers.

Written here rather than with ``torch.optim.swa_utils.AveragedModel``: that class
deep-copies the module (the generator's memory queues included) and either freezes
or averages every buffer, neither of which is right for the memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["WeightAverage"]


def _params(model) -> list[tuple[str, nn.Parameter]]:
    return ([(f"generator.{k}", p) for k, p in model.generator.named_parameters()]
            + [(f"discriminator.{k}", p) for k, p in model.discriminator.named_parameters()])


class WeightAverage:
    """EMA of ``model.generator`` and ``model.discriminator`` parameters.

    ``decay`` is the per-step weight of the past (e.g. 0.999: about the last 1,000
    steps). Early on the effective decay is ``min(decay, (1 + n) / (10 + n))`` after
    ``n`` updates, so the average is not dominated by the random initial weights.
    """

    def __init__(self, model, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().clone() for name, p in _params(model)}

    def _effective_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model) -> None:
        """Fold the live parameters in (call after each optimiser step)."""
        live = [p.detach() for _, p in _params(model)]
        shadow = list(self.shadow.values())
        torch._foreach_lerp_(shadow, live, 1.0 - self._effective_decay())
        self.updates += 1

    @contextmanager
    def applied(self, model) -> Iterator[None]:
        """Within the block the model's parameters are the average; restored after."""
        params = _params(model)
        stash = [p.detach().clone() for _, p in params]
        with torch.no_grad():
            for name, p in params:
                p.copy_(self.shadow[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for (_, p), saved in zip(params, stash, strict=True):
                    p.copy_(saved)

    def state_dict(self) -> dict:
        """For the training checkpoint (CPU tensors)."""
        return {"decay": self.decay, "updates": self.updates,
                "shadow": {k: v.detach().to("cpu", copy=True) for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Continue an average from a checkpoint (same model configuration)."""
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError("the checkpoint's weight average was made for another model "
                             f"({len(missing)} parameter names differ)")
        self.updates = int(state["updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v.to(self.shadow[k].device))
