"""Inference speed of the SQUID paper preset: milliseconds per image.

Usage::

    python bench/inference.py [--preset paper] [--repeats 10] [--threads N] [--device cpu]

Prints parameter counts and GFLOPs per image (torch.utils.flop_counter; one
multiply-add = 2 FLOPs), then the time per image at batch 1 and 16, in each
precision of `squid_core.scoring.scorer.prepare_inference` (fp32; mixed = fp32 with
bfloat16 weights in the in-painting block's linear layers, the default on CPUs
with native bfloat16; bf16 = bfloat16 convolutions too), for:

* ``scorer``: the networks as `squid_core.scoring.Scorer` runs them (BatchNorm
  folded, no teacher decoder, channels-last on CPU);
* ``compiled`` (with ``--compile``): the scorer's networks through
  ``squid_core.scoring.compiled.CompiledPipeline`` (torch.compile, inductor with
  freezing), batch 1 only; all precisions are compiled first and then timed in
  turn, run by run, so that a busy neighbour on a shared machine slows them alike;
  the one-off compilation time is printed too;
* ``plain``: the model as built (eval mode, teacher decoder included), i.e. the
  work the reference code does at evaluation.

Each figure is the median (and minimum) wall time over ``--repeats`` timed runs
after two warm-up runs, plus the minimum process CPU time (all threads together).
On a shared machine the minimum is the better estimate of what the code costs, and
``--threads 1`` CPU time the most stable one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from squid_core.model import build_model  # noqa: E402
from squid_core.scoring.device import resolve_device  # noqa: E402
from squid_core.scoring.scorer import prepare_inference  # noqa: E402


def gflops(gen: torch.nn.Module, disc: torch.nn.Module, size: int, teacher: bool) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        disc(gen(torch.rand(1, 1, size, size), teacher=teacher)["recon"])
    return counter.get_total_flops() / 1e9


def time_per_image(gen, disc, x, *, bf16: bool, teacher: bool,
                   repeats: int) -> tuple[float, float, float]:
    """(median wall, min wall, min process CPU time) in milliseconds per image."""
    times, cpu = [], []
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.inference_mode(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16):
        for i in range(repeats + 2):
            sync()
            t, c = time.perf_counter(), time.process_time()
            disc(gen(x, teacher=teacher)["recon"])
            sync()
            if i >= 2:
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
    n = x.shape[0]
    return statistics.median(times) * 1000 / n, min(times) * 1000 / n, min(cpu) * 1000 / n


def time_compiled(model, device, x, precisions: list[str], repeats: int) -> None:
    """Compile the batch-1 scoring pipeline in each precision, then time them in turn."""
    from squid_core.scoring.compiled import CompiledPipeline

    channels_last = device.type == "cpu"
    pipes = {}
    for precision in precisions:
        gen, disc = prepare_inference(model, device, precision=precision)
        pipe = CompiledPipeline(gen, disc, x.shape[-1], device, channels_last,
                                precision == "bf16")
        if pipe.compile():
            pipes[precision] = pipe
        else:
            print(f"compiled batch  1 {precision}: unavailable ({pipe.error})", flush=True)
    xs = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    times: dict[str, list[float]] = {p: [] for p in pipes}
    cpu: dict[str, list[float]] = {p: [] for p in pipes}
    for i in range(repeats + 2):
        for precision, pipe in pipes.items():
            t, c = time.perf_counter(), time.process_time()
            pipe(xs)
            if i >= 2:
                times[precision].append(time.perf_counter() - t)
                cpu[precision].append(time.process_time() - c)
    for precision, pipe in pipes.items():
        ts = times[precision]
        print(f"compiled batch  1 {precision:5s}: {statistics.median(ts) * 1000:7.1f} ms/image "
              f"(min {min(ts) * 1000:.1f}; CPU time {min(cpu[precision]) * 1000:.1f}); "
              f"compiled in {pipe.seconds:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--precisions", default="fp32,mixed,bf16",
                    help="comma-separated precisions to time (fp32, mixed, bf16)")
    ap.add_argument("--compile", action="store_true",
                    help="also time the torch.compile'd batch-1 pipeline (compiles first)")
    args = ap.parse_args()
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = build_model(args.preset).eval()
    size = model.config.image_size
    n_gen = sum(p.numel() for p in model.generator.parameters()) / 1e6
    n_disc = sum(p.numel() for p in model.discriminator.parameters()) / 1e6
    print(f"preset {args.preset}: generator {n_gen:.2f} M parameters, "
          f"discriminator {n_disc:.2f} M")
    g_all = gflops(model.generator, model.discriminator, size, teacher=True)
    g_score = gflops(model.generator, model.discriminator, size, teacher=False)
    print(f"GFLOPs per image: {g_all:.2f} (generator incl. teacher + discriminator), "
          f"{g_score:.2f} for scoring (no teacher)")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    plain_gen, plain_disc = model.generator.to(device), model.discriminator.to(device)
    for batch in (int(b) for b in args.batches.split(",")):
        x = torch.rand(batch, 1, size, size, device=device)
        repeats = args.repeats if batch == 1 else max(2, args.repeats // 4)
        for precision in precisions:
            gen, disc = prepare_inference(model, device, precision=precision)
            xs = x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else x
            med, low, cpu = time_per_image(gen, disc, xs, bf16=precision == "bf16",
                                           teacher=False, repeats=repeats)
            print(f"scorer  batch {batch:2d} {precision:5s}: {med:7.1f} ms/image "
                  f"(min {low:.1f}; CPU time {cpu:.1f})", flush=True)
        if args.compile and batch == 1:
            time_compiled(model, device, x, precisions, repeats)
        med, low, cpu = time_per_image(plain_gen, plain_disc, x, bf16=False, teacher=True,
                                       repeats=repeats)
        print(f"plain   batch {batch:2d} fp32: {med:7.1f} ms/image (min {low:.1f}; "
              f"CPU time {cpu:.1f})  [as built, teacher included]", flush=True)


if __name__ == "__main__":
    main()
