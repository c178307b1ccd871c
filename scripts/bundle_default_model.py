"""Store a trained model as the bundled default, in float16, and prove the scores hold.

Half-precision weights halve the file (the repository keeps models under 50 MB).
This script writes the float16 copy, then scores the given images with both copies
and fails if any score moves by more than ``--tolerance`` points (default 0.5)::

    python scripts/bundle_default_model.py runs/model.safetensors \\
        resources/models/default.safetensors runs/grouped/report_normal \\
        runs/grouped/report_abnormal --name "SQUID compact ZhangLab pediatric" --version 2.0

A model whose scores move more than that in float16 (a small calibration sigma makes
the score steep) is stored in float32 with ``--float32``: the compact preset is then
50 MB, within the repository's 60 MB budget.

``--name``, ``--version`` and ``--notes`` set what the library and ``squid info`` show,
and a file without an applicability block gets the chest-radiograph one declared
(``squid_core.scoring.applicability.DEFAULT_RULES``, what it would be read as anyway);
nothing else of the trained file (calibration, operating points, guard) changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import squid_core
from squid_core.io import ImageReadError, find_image_files, read_image
from squid_core.scoring import Scorer
from squid_core.scoring.analysis import scoring_frame
from squid_core.scoring.applicability import DEFAULT_RULES


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="trained model file (float32)")
    parser.add_argument("out", type=Path, help="where to write the float16 copy")
    parser.add_argument("folders", type=Path, nargs="+", help="images to compare the scores on")
    parser.add_argument("--tolerance", type=float, default=0.5, help="largest allowed score change")
    parser.add_argument("--float32", action="store_true",
                        help="keep float32 weights (when float16 moves scores too much); "
                             "no comparison is then needed")
    parser.add_argument("--name", help="model name to store (default: the trained file's)")
    parser.add_argument("--version", help="model version to store (default: the trained file's)")
    parser.add_argument("--notes", help="notes to store (default: the trained file's)")
    args = parser.parse_args()

    full = squid_core.load_model(args.source)
    for key in ("name", "version", "notes"):
        if getattr(args, key) is not None:
            full.metadata[key] = getattr(args, key)
    full.metadata.setdefault("applicability", dict(DEFAULT_RULES))
    if args.float32:
        full.save(args.out)
        print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB, float32 weights")
        return 0
    full.save(args.out, weights_dtype=torch.float16)
    half = squid_core.load_model(args.out)
    scorers = Scorer(full, device="cpu"), Scorer(half, device="cpu")
    worst = 0.0
    paths = find_image_files(args.folders)
    for path in paths:
        try:
            pixels, _ = scoring_frame(read_image(path))
        except ImageReadError as exc:
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
            continue
        a, b = (scorer.score(pixels).score for scorer in scorers)
        worst = max(worst, abs(a - b))
    size_mb = args.out.stat().st_size / 1e6
    print(f"{args.out}: {size_mb:.1f} MB; largest score change fp32 -> fp16 over {len(paths)} images: {worst:.4f} points")
    if worst > args.tolerance:
        args.out.unlink()
        print(f"refused: the change exceeds {args.tolerance} points", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
