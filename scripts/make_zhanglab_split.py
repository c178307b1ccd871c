"""Build the train / validation split used for the bundled default model.

ZhangLab's train folder (pediatric chest X-rays, Kermany et al. 2018, CC BY 4.0)
holds 1,341 NORMAL and 3,875 PNEUMONIA images. SQUID trains on normals only, so
the validation split (default: 100 normal + 100 pneumonia) is held out of the
train folder. Exact duplicates (the set has ~30 groups) are kept on one side of
the split, so no validation image is also seen in training.

The split is a deterministic function of the seed and writes a folder of
symbolic links plus ``split.csv``::

    python scripts/make_zhanglab_split.py ../shared/data/zhanglab_224/train runs/zhanglab_split
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
from pathlib import Path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _groups(folder: Path) -> list[list[Path]]:
    """Files of one class folder, grouped by identical content, in a stable order."""
    by_hash: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            by_hash.setdefault(_digest(path), []).append(path)
    return [by_hash[h] for h in sorted(by_hash, key=lambda h: by_hash[h][0].name)]


def _take(groups: list[list[Path]], count: int, rng: random.Random) -> tuple[list[Path], list[Path]]:
    """Pick ``count`` images for validation (whole duplicate groups); the rest stays."""
    order = list(range(len(groups)))
    rng.shuffle(order)
    chosen: list[Path] = []
    rest: list[Path] = []
    for index in order:
        group = groups[index]
        if len(chosen) + len(group) <= count and len(chosen) < count:
            chosen.extend(group)
        else:
            rest.extend(group)
    return sorted(chosen), sorted(rest)


def make_split(source: Path, out: Path, n_normal: int, n_abnormal: int, seed: int) -> dict[str, int]:
    """Write ``out/{train_normal,val_normal,val_abnormal}`` as links and ``out/split.csv``."""
    rng = random.Random(seed)
    val_normal, train_normal = _take(_groups(source / "NORMAL"), n_normal, rng)
    val_abnormal, _ = _take(_groups(source / "PNEUMONIA"), n_abnormal, rng)
    parts = {"train_normal": train_normal, "val_normal": val_normal, "val_abnormal": val_abnormal}
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, files in parts.items():
        folder = out / name
        folder.mkdir(exist_ok=True)
        for path in files:
            link = folder / path.name
            if not link.exists():
                os.symlink(path.resolve(), link)
            rows.append((name, f"{path.parent.name}/{path.name}"))
    with open(out / "split.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["part", "file"])
        writer.writerows(rows)
    return {name: len(files) for name, files in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="ZhangLab train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("out", type=Path, help="folder to write the split into")
    parser.add_argument("--val-normal", type=int, default=100)
    parser.add_argument("--val-abnormal", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = make_split(args.source, args.out, args.val_normal, args.val_abnormal, args.seed)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
