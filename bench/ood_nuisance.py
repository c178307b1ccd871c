"""How often the out-of-distribution guard calls *normal* children outside when they are
only re-framed or re-exposed (prints a table).

The guard must catch adults, digits and other objects, yet a site that frames or exposes
its pediatric radiographs differently (the official ZhangLab test split's normals are more
tightly framed and brighter) should not see most of its normals sent for review. This
bench applies the robustness yardstick's nuisance transforms
(`squid_core.scoring.nuisance`) to the normals of the bundled model's report part
(`default_split.csv`: 150 children the model never saw; `val_normal` in split files of
older models) and reports, per transform, the fraction outside the guard and the
fraction flagged at the default operating point.

    python bench/ood_nuisance.py [--model resources/models/default.safetensors] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "zhanglab_224" / "train"
sys.path.insert(0, str(ROOT))

from squid_core.io import read_image  # noqa: E402
from squid_core.model_file import load_model  # noqa: E402
from squid_core.scoring.analysis import analyse_batch, scoring_frame  # noqa: E402
from squid_core.scoring.nuisance import nuisance_family  # noqa: E402
from squid_core.scoring.result import OUTSIDE  # noqa: E402
from squid_core.scoring.scorer import Scorer  # noqa: E402


def rates(scorer: Scorer, items: list) -> tuple[float, float]:
    """(fraction outside, fraction flagged) of ``(pixels, meta)`` items."""
    results = []
    for i in range(0, len(items), 25):
        results += analyse_batch(scorer, items[i:i + 25])
    return (float(np.mean([r.status == OUTSIDE for r in results])),
            float(np.mean([r.flagged is True for r in results])))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "resources/models/default.safetensors")
    p.add_argument("--split", type=Path, default=ROOT / "resources/models/default_split.csv")
    p.add_argument("--data", type=Path, default=SHARED)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"error: {args.data} not found (../shared/data/zhanglab_224)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    scorer = Scorer(load_model(args.model), device="cpu")
    with open(args.split, newline="") as fh:
        rows = list(csv.DictReader(fh))
    part = "report_normal" if any(r["part"] == "report_normal" for r in rows) else "val_normal"
    files = [args.data / r["file"] for r in rows if r["part"] == part]
    items = []
    for f in files:
        image = read_image(f)
        items.append((scoring_frame(image)[0], image.meta))
    print(f"{len(items)} validation normals, model {scorer.model.name} {scorer.model.version}")
    print("| transform of the normals | outside the guard | flagged at the default point |")
    print("|---|---|---|")
    outside, flagged = rates(scorer, items)
    print(f"| untouched | {100 * outside:.0f} % | {100 * flagged:.0f} % |", flush=True)
    for nuisance in nuisance_family():
        transformed = [(nuisance.apply(px, seed=i), meta) for i, (px, meta) in enumerate(items)]
        outside, flagged = rates(scorer, transformed)
        print(f"| {nuisance.label} | {100 * outside:.0f} % | {100 * flagged:.0f} % |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
