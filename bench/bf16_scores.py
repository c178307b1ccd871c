"""How far bf16 autocast moves scores from fp32, on real images, for a model file.

    python bench/bf16_scores.py resources/models/default.safetensors runs/zhanglab_split/val_normal runs/zhanglab_split/val_abnormal
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import squid_core  # noqa: E402
from squid_core.io import read_image  # noqa: E402
from squid_core.scoring import Scorer  # noqa: E402


def main(model_path: str, folders: list[str]) -> None:
    model = squid_core.load_model(model_path)
    fp32, bf16 = Scorer(model, device="cpu"), Scorer(model, device="cpu", bf16=True)
    paths = sorted(p for folder in folders for p in Path(folder).iterdir() if p.is_file())
    diffs, times = [], {"fp32": 0.0, "bf16": 0.0}
    for path in paths:
        pixels = read_image(path).pixels
        t0 = time.perf_counter()
        a = fp32.score(pixels).score
        t1 = time.perf_counter()
        b = bf16.score(pixels).score
        t2 = time.perf_counter()
        times["fp32"] += t1 - t0
        times["bf16"] += t2 - t1
        diffs.append(abs(a - b))
    d = np.asarray(diffs)
    print(f"{len(paths)} images: |score fp32 - bf16| mean {d.mean():.3f}, max {d.max():.3f} points; "
          f"ms/image fp32 {1000 * times['fp32'] / len(paths):.1f}, bf16 {1000 * times['bf16'] / len(paths):.1f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
