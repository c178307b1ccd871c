"""Build a patient-grouped train / selection / report split of ZhangLab's train folder.

ZhangLab's train folder (pediatric chest X-rays, Kermany et al. 2018, CC BY 4.0)
holds 1,341 NORMAL and 3,875 PNEUMONIA images. SQUID trains on normals only; the
rest is held out in two disjoint parts with different jobs:

* ``select_normal`` + ``select_abnormal``: choose the epoch, the recipe and the
  operating points (every figure measured on them is optimistic);
* ``report_normal`` + ``report_abnormal``: the figures reported, touched by no choice.

No patient has images in two parts (patients from the file names, see
``squid_core.training.patients``; exact duplicate files count as one patient too), so
no figure rests on a child seen in training or in selection. Defaults: 150 + 150
normals held out (1,041 left to train on) and 1,000 + 1,000 pneumonia images.

The split is a deterministic function of the seed and writes a folder of symbolic
links per part plus ``split.csv``::

    python scripts/make_zhanglab_split.py ../shared/data/zhanglab_224/train runs/zhanglab_grouped

``--from-csv`` recreates the folders of an existing ``split.csv`` instead (e.g. the
bundled model's ``resources/models/default_split.csv``: parts ``train_normal``,
``val_normal``, ``val_abnormal``, made before splits were grouped by patient). Then
each held-out normal part also gets ``<part>_new_patients`` (its images of patients
with no image in ``train_normal``), and ``--unseen-abnormal N`` adds N pneumonia
images of patients the CSV does not list at all (``unseen_abnormal``), for figures
that no training or selection step touched.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from squid_core.training.patients import patient_key  # noqa: E402
from squid_core.training.splits import merge_groups, take_groups  # noqa: E402


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def patient_groups(files: list[Path]) -> dict[Path, str]:
    """File -> group: images of one patient, or with identical bytes, share a group."""
    keys = {f: [patient_key(f.name), "sha256:" + hashlib.sha256(f.read_bytes()).hexdigest()]
            for f in files}
    return merge_groups(keys)


def carve(files: list[Path], counts: dict[str, int], seed: int) -> dict[str, list[Path]]:
    """Take ``counts[part]`` files per part, in order, as whole patient groups; the
    files left over come back under ``"rest"``."""
    groups = patient_groups(files)
    parts: dict[str, list[Path]] = {}
    rest = list(files)
    for i, (name, n) in enumerate(counts.items()):
        parts[name], rest = take_groups(rest, n, seed + i, groups.__getitem__)
    parts["rest"] = rest
    return parts


def write_parts(parts: dict[str, list[Path]], out: Path) -> dict[str, int]:
    """``out/<part>/`` folders of links to the files, and ``out/split.csv``."""
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


def make_split(source: Path, out: Path, *, select_normal: int = 150, report_normal: int = 150,
               select_abnormal: int = 1000, report_abnormal: int = 1000,
               seed: int = 0) -> dict[str, int]:
    """Write the grouped split of ``source`` (NORMAL/, PNEUMONIA/) into ``out``."""
    normal = carve(_files(source / "NORMAL"),
                   {"report_normal": report_normal, "select_normal": select_normal}, seed)
    abnormal = carve(_files(source / "PNEUMONIA"),
                     {"report_abnormal": report_abnormal, "select_abnormal": select_abnormal},
                     seed + 100)
    parts = {"train_normal": normal.pop("rest"), **normal}
    abnormal.pop("rest")  # not used by this split
    parts.update(abnormal)
    return write_parts(parts, out)


def split_from_csv(source: Path, split_csv: Path, out: Path, unseen_abnormal: int = 0,
                   seed: int = 0) -> dict[str, int]:
    """Recreate the part folders listed in ``split_csv`` (part,file) from ``source``,
    plus the ``*_new_patients`` and ``unseen_abnormal`` parts (see the module doc)."""
    parts: dict[str, list[Path]] = {}
    with open(split_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            parts.setdefault(row["part"], []).append(source / row["file"])
    missing = [p for files in parts.values() for p in files if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {len(missing)} file(s) of {split_csv} are not in {source}, "
                         f"e.g. {missing[0]}")
    trained = {patient_key(p.name) for p in parts.get("train_normal", [])}
    for name, files in list(parts.items()):
        if name != "train_normal" and "normal" in name and "abnormal" not in name:
            parts[f"{name}_new_patients"] = [p for p in files if patient_key(p.name) not in trained]
    if unseen_abnormal:
        listed = {patient_key(p.name) for files in parts.values() for p in files}
        pool = [p for p in _files(source / "PNEUMONIA") if patient_key(p.name) not in listed]
        groups = patient_groups(pool)
        parts["unseen_abnormal"], _ = take_groups(pool, unseen_abnormal, seed,
                                                  groups.__getitem__)
    return write_parts(parts, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="ZhangLab train folder (NORMAL/, PNEUMONIA/)")
    parser.add_argument("out", type=Path, help="folder to write the split into")
    parser.add_argument("--select-normal", type=int, default=150)
    parser.add_argument("--report-normal", type=int, default=150)
    parser.add_argument("--select-abnormal", type=int, default=1000)
    parser.add_argument("--report-abnormal", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-csv", type=Path, metavar="CSV",
                        help="recreate the parts of this split.csv instead of drawing a new split")
    parser.add_argument("--unseen-abnormal", type=int, default=0, metavar="N",
                        help="with --from-csv: add N pneumonia images of patients the CSV "
                             "does not list")
    args = parser.parse_args()
    if args.from_csv is not None:
        counts = split_from_csv(args.source, args.from_csv, args.out, args.unseen_abnormal,
                                args.seed)
    else:
        counts = make_split(args.source, args.out, select_normal=args.select_normal,
                            report_normal=args.report_normal,
                            select_abnormal=args.select_abnormal,
                            report_abnormal=args.report_abnormal, seed=args.seed)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
