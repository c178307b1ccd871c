"""Training throughput (images/s) of the SQUID GAN step, per preset and precision.

Runs the real training step (:func:`squid_core.training.gan_step.gan_step`: one
generator forward serving the discriminator and generator updates, D every step,
G every 2nd, queue writes) on random 0-1 images of the preset's size, after a
warm-up, and prints images/s for fp32, bf16 autocast, and each with channels_last.

    python bench/train_throughput.py                       # paper + compact, batch 16
    python bench/train_throughput.py --presets paper --modes fp32 bf16 --steps 6

Steps are counted in pairs (one discriminator-only step + one step with both
updates), so the figure is what an epoch achieves. Other processes on the machine
lower the figures; the printed load average helps judge that.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import squid_core  # noqa: E402
from squid_core.training.augment import random_affine  # noqa: E402
from squid_core.training.config import TrainConfig  # noqa: E402
from squid_core.training.gan_step import gan_step  # noqa: E402
from squid_core.training.trainer import make_optimisers  # noqa: E402

MODES = {
    "fp32": (False, False),
    "fp32+cl": (False, True),
    "bf16": (True, False),
    "bf16+cl": (True, True),
}


def measure(preset: str, mode: str, batch: int, steps: int, warmup: int) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU-second of this process) over
    ``steps`` training steps after ``warmup`` steps.

    On a shared machine the wall-clock figure drops with other people's load; with one
    thread the CPU-time figure does not (it counts only the time this process ran), so
    ``threads x img per CPU-s`` estimates an idle machine (an upper bound: it ignores
    imperfect thread scaling).
    """
    bf16, channels_last = MODES[mode]
    torch.manual_seed(0)
    model = squid_core.build_model(preset)
    model.generator.train()
    model.discriminator.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimisers(model, TrainConfig())
    size = model.config.image_size
    weights = TrainConfig().weights

    def step(i: int) -> None:
        x = random_affine(torch.rand(batch, 1, size, size))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        gan_step(model, x, opt, weights, update_generator=i % 2 == 0, bf16=bf16)

    for i in range(warmup):
        step(i)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return batch * steps / wall, batch * steps / cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["paper", "compact"])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=4, help="timed steps (even: D+G pairs)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}, batch {args.batch_size}, "
          f"{args.steps} steps after {args.warmup} warm-up")
    for preset in args.presets:
        for mode in args.modes:
            ips, per_cpu = measure(preset, mode, args.batch_size, args.steps, args.warmup)
            print(f"{preset:14s} {mode:8s} {ips:7.2f} img/s wall   {per_cpu:7.2f} img per "
                  f"CPU-s   (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
