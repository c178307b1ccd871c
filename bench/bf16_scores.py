"""How far a reduced precision moves scores from fp32, on real images, for a model file.

    python bench/bf16_scores.py [--precision bf16|mixed] MODEL FOLDER...

e.g. ``python bench/bf16_scores.py --precision mixed runs/paper/model.safetensors
runs/zhanglab_split/val_normal runs/zhanglab_split/val_abnormal``. Prints the mean and
largest |score difference| in points and the eager time per image of each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import squid_core  # noqa: E402
from squid_core.io import find_image_files, read_image  # noqa: E402
from squid_core.scoring import Scorer  # noqa: E402
from squid_core.scoring.analysis import scoring_frame  # noqa: E402


def main(model_path: str, folders: list[str], precision: str) -> None:
    model = squid_core.load_model(model_path)
    fp32 = Scorer(model, device="cpu", precision="fp32")
    reduced = Scorer(model, device="cpu", precision=precision)
    paths = find_image_files(folders)
    diffs, times = [], {"fp32": 0.0, precision: 0.0}
    for path in paths:
        pixels, _ = scoring_frame(read_image(path))
        t0 = time.perf_counter()
        a = fp32.score(pixels).score
        t1 = time.perf_counter()
        b = reduced.score(pixels).score
        t2 = time.perf_counter()
        times["fp32"] += t1 - t0
        times[precision] += t2 - t1
        diffs.append(abs(a - b))
    d = np.asarray(diffs)
    print(f"{len(paths)} images: |score fp32 - {precision}| mean {d.mean():.4f}, "
          f"max {d.max():.4f} points; ms/image fp32 {1000 * times['fp32'] / len(paths):.1f}, "
          f"{precision} {1000 * times[precision] / len(paths):.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", default="bf16", choices=["bf16", "mixed"])
    ap.add_argument("model")
    ap.add_argument("folders", nargs="+")
    args = ap.parse_args()
    main(args.model, args.folders, args.precision)
