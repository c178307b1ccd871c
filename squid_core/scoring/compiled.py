"""An optional ``torch.compile``d scoring pipeline (generator + discriminator) for batch 1.

Why: at batch 1 on a CPU the eager networks spend their time in many small
convolutions and in the copies between them. Inductor with *freezing* (weights treated
as constants: BatchNorm already folded, convolution weights pre-packed for oneDNN,
element-wise tails fused) computes the same function about 20 % faster: paper preset,
2 threads, 57 -> 44 ms per image in fp32, 55 -> 42.5 ms in the default ``mixed``
precision (``python bench/inference.py --compile``). It must stay one graph: a
data-dependent shape anywhere (e.g. indexing with a boolean mask) splits it, with
Python between the pieces (``tests/test_scoring_compile.py`` checks). The price is a
one-off compilation: 15-30 s on a 2-core CPU, less when inductor's on-disk cache is
warm.

Only batch size 1 is compiled (``dynamic=False``), the case of a radiologist opening
one study; other batch sizes use the eager networks, so no recompilation happens
behind the user's back. When compilation is impossible (no C++ compiler, an
unsupported platform) the pipeline says so once and the eager networks are used.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


class _Pipeline(nn.Module):
    """Generator (student only) then discriminator: image -> (recon, logit, bottleneck
    embedding); the embedding feeds the out-of-distribution guard."""

    def __init__(self, gen: nn.Module, disc: nn.Module) -> None:
        super().__init__()
        self.gen, self.disc = gen, disc

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.gen(x, teacher=False)
        return out["recon"], self.disc(out["recon"]), out["embedding"]


class CompiledPipeline:
    """``torch.compile`` of (generator, discriminator) for one (1, 1, size, size) input.

    ``compile()`` does the work (call it off the GUI thread); afterwards ``__call__``
    runs the compiled code. ``error`` holds why compilation failed, if it did.
    """

    def __init__(self, gen: nn.Module, disc: nn.Module, size: int, device: torch.device,
                 channels_last: bool, bf16: bool = False) -> None:
        self.size, self.device = int(size), device
        self.channels_last, self.bf16 = channels_last, bool(bf16)
        self._module = _Pipeline(gen, disc).eval()
        self._compiled: Any = None
        self.error: str | None = None
        self.seconds: float | None = None

    @property
    def ready(self) -> bool:
        """True once compiled (and the first run succeeded)."""
        return self._compiled is not None

    def example(self) -> torch.Tensor:
        x = torch.rand(1, 1, self.size, self.size, device=self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def compile(self) -> bool:
        """Compile and run once; True on success. Failures are recorded, never raised."""
        if self.ready or self.error is not None:
            return self.ready
        t0 = time.perf_counter()
        try:
            import torch._inductor.config as inductor_config

            compiled = torch.compile(self._module, dynamic=False)
            with inductor_config.patch(freezing=True), torch.no_grad(), \
                    torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
                compiled(self.example())
        except Exception as exc:  # any failure means: keep the eager networks
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("torch.compile is unavailable here, scoring uncompiled: %s", self.error)
            return False
        self._compiled = compiled
        self.seconds = time.perf_counter() - t0
        log.info("scoring pipeline compiled in %.1f s", self.seconds)
        return True

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.ready:
            raise RuntimeError("the pipeline is not compiled; call compile() first")
        with torch.no_grad(), torch.autocast(self.device.type, torch.bfloat16,
                                             enabled=self.bf16):
            return self._compiled(x)
