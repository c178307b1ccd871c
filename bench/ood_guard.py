"""How often the out-of-distribution guard says "outside", per image set (prints a table).

Runs the product path (``squid_core.io.read_image`` -> applicability ->
``Scorer`` with the model file's guard) on the sets of ``../shared/data``:

* each held-out part of the bundled model's split (``default_split.csv``: for model 2.0
  ``select_*`` and ``report_*``, 150 normals + 1,000 pneumonia each), and 500 further
  pneumonia images the split does not list (``random.Random(1)``);
* held-out training normals, nested: the guard is refitted (descriptors, Ledoit-Wolf
  fit, out-of-fold threshold) on 9/10 of the 1,241 training normals and measured on the
  remaining tenth, for each of 10 folds; these images chose neither the threshold nor
  the method (which was chosen looking at the validation normals and the NIH adults);
* adult chest radiographs: ``nih_adult_64`` (600 NIH images, 64 px) and ``cxr_samples``;
* MNIST digits (first 1,000 of t10k) and DigitAnatomy grids (250 normal + 250 abnormal,
  seed 0, as ``squid digitanatomy`` writes them);
* every readable object of ``../shared/data/dicom``: its status and reason.

Outside fractions come with 95 % Clopper-Pearson intervals.

    python bench/ood_guard.py [--model resources/models/default.safetensors] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from squid_core.io import ImageReadError, read_image  # noqa: E402
from squid_core.scoring.analysis import analyse_batch, analyse_image, scoring_frame  # noqa: E402
from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE  # noqa: E402


def interval(k: int, n: int) -> tuple[float, float]:
    """95 % Clopper-Pearson interval of k successes in n trials."""
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def results_for(scorer, items, batch: int = 32):
    out = []
    for i in range(0, len(items), batch):
        out += analyse_batch(scorer, items[i:i + batch])
    return out


def read_items(files):
    items, failed = [], 0
    for f in files:
        try:
            image = read_image(f)
        except ImageReadError:
            failed += 1
            continue
        items.append((scoring_frame(image)[0], image.meta))
    return items, failed


def row(name: str, results, note: str = "") -> None:
    n = len(results)
    k = sum(r.status == OUTSIDE for r in results)
    na = sum(r.status == NOT_APPLICABLE for r in results)
    lo, hi = interval(k, n)
    extra = f", {na} not applicable" if na else ""
    print(f"| {name} | {n} | {100 * k / n:.1f} % | {100 * lo:.1f}-{100 * hi:.1f} % | "
          f"{note}{extra} |", flush=True)


def nested_heldout(model, files, folds: int = 10) -> tuple[int, int]:
    """(outside, n) over the training normals, each measured by a guard refitted
    without it (features from the model's own forward pass)."""
    from sklearn.model_selection import KFold

    from squid_core.scoring.calibration import run_model
    from squid_core.scoring.ood_guard import fit_guard
    from squid_core.scoring.scorer import resize_for_model

    size = model.config.image_size
    imgs = [resize_for_model(scoring_frame(read_image(f))[0], size) for f in files]
    batches = (torch.from_numpy(np.stack(imgs[i:i + 64]))[:, None]
               for i in range(0, len(imgs), 64))
    feats = run_model(model, batches, keep_features=True).features
    outside = 0
    for train, held in KFold(folds, shuffle=True, random_state=1).split(feats):
        guard = fit_guard(feats[train])
        outside += int((guard.distance(feats[held]) > guard.threshold).sum())
    return outside, len(feats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "resources/models/default.safetensors")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"needs ../shared/data ({SHARED}): not found", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    import squid_core
    from squid_core.io import find_image_files
    from squid_core.scoring.scorer import Scorer
    from squid_core.training.digit_anatomy import DigitSource, generate_test_set, load_mnist

    model = squid_core.load_model(args.model)
    if model.ood_guard is None:
        print(f"{args.model} has no out-of-distribution guard", file=sys.stderr)
        return 2
    scorer = Scorer(model, device="cpu", precision="fp32")
    g = model.ood_guard
    print(f"model {model.name} {model.version}; guard threshold {g.threshold:.2f} "
          f"({g.metadata()['threshold_rule']}, {g.n_images} images)\n")
    t0 = time.perf_counter()
    split: dict[str, list[Path]] = {}
    with open(ROOT / "resources/models/default_split.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            split.setdefault(r["part"], []).append(SHARED / "zhanglab_224/train" / r["file"])
    print("| set | n | outside | 95 % interval | note |")
    print("|---|---|---|---|---|")
    k, n = nested_heldout(model, split["train_normal"])
    lo, hi = interval(k, n)
    print(f"| ZhangLab training normals, held out by nested 10-fold refits | {n} | "
          f"{100 * k / n:.1f} % | {100 * lo:.1f}-{100 * hi:.1f} % | chose nothing |", flush=True)
    for part in (p for p in split if p != "train_normal"):
        row(f"ZhangLab {part.replace('_', ' ')}", results_for(scorer, read_items(split[part])[0]))
    used = {f for part, files in split.items() if part.endswith("abnormal") for f in files}
    pneumonia = [p for p in sorted((SHARED / "zhanglab_224/train/PNEUMONIA").iterdir())
                 if p not in used]
    random.Random(1).shuffle(pneumonia)
    row("ZhangLab pneumonia, 500 unseen", results_for(scorer, read_items(pneumonia[:500])[0]))
    nih = SHARED / "nih_adult_64/train"
    row("NIH adults (nih_adult_64), all", results_for(
        scorer, read_items(find_image_files([nih]))[0]), "also looked at when choosing")
    for part in ("0_normal", "1_abnormal"):
        row(f"NIH adults, {part}", results_for(scorer, read_items(find_image_files([nih / part]))[0]))
    row("cxr_samples (adult, odd formats)",
        results_for(scorer, read_items(find_image_files([SHARED / "cxr_samples"]))[0]))
    digits, _ = load_mnist(SHARED / "mnist")
    row("MNIST digits (t10k, first 1000)", results_for(
        scorer, [(d.astype(np.float32) / 255.0, None) for d in digits[:1000]]))
    source = DigitSource.from_dir(SHARED / "mnist", part="test")
    grids = [(img.astype(np.float32), None) for _, img, *_ in generate_test_set(source, 250, 250, 0)]
    row("DigitAnatomy grids (250 + 250, seed 0)", results_for(scorer, grids))
    print("\n| ../shared/data/dicom object | modality | status | score | reason |")
    print("|---|---|---|---|---|")
    for f in find_image_files([SHARED / "dicom"]):
        try:
            image = read_image(f)
        except ImageReadError as exc:
            print(f"| {f.relative_to(SHARED / 'dicom')} | | unreadable | | {exc.reason} |")
            continue
        r = analyse_image(scorer, image)
        score = "" if r.score is None else f"{r.score:.1f}"
        print(f"| {f.relative_to(SHARED / 'dicom')} | {image.meta.modality} | {r.status} | "
              f"{score} | {r.status_reason} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
