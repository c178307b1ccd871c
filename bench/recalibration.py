"""How many of a site's normals a re-calibration (``squid calibrate``) needs.

    python bench/recalibration.py MODEL [--normal DIR...] [--site KIND=S]
        [--sizes 25 50 100 200 400] [--draws 200] [--threads 1]

Scores a pool of normal images once (default: all 1,341 ZhangLab train normals in
``../shared/data/zhanglab_224/train/NORMAL``; ``--site gamma=0.8`` transforms them first,
to play a site that exposes differently), then for each size n re-calibrates ``--draws``
times on n normals drawn from the pool and measures the specificity of the ``balanced``
point on all the other normals of the pool (``squid_core.scoring.recalibration``), with
and without the bootstrap margin. Also prints what the site sees before it re-calibrates
(the model's stored threshold on the whole pool).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_NORMALS = ROOT.parent / "shared" / "data" / "zhanglab_224" / "train" / "NORMAL"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--normal", type=Path, nargs="+", default=[DEFAULT_NORMALS], metavar="DIR",
                    help="the pool of normal images (default: %(default)s)")
    ap.add_argument("--site", metavar="KIND=S", help="transform the pool first, e.g. gamma=0.8")
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--target", type=float, default=0.90, help="target specificity (0.90)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    import squid_core
    from squid_core.io import ImageReadError, find_image_files, read_image
    from squid_core.model_file import ModelFileError
    from squid_core.scoring.analysis import scoring_frame
    from squid_core.scoring.calibration import scores_from_logits
    from squid_core.scoring.nuisance import parse_nuisance
    from squid_core.scoring.operating_point import MARGINS
    from squid_core.scoring.recalibration import recalibration_draws
    from squid_core.scoring.scorer import Scorer

    torch.set_num_threads(args.threads)
    try:
        site = parse_nuisance(args.site) if args.site else None
    except ValueError as e:
        ap.error(str(e))
    try:
        model = squid_core.load_model(args.model)
    except (ModelFileError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scorer = Scorer(model, device="cpu")
    files = find_image_files(args.normal)
    t0 = time.perf_counter()
    logits: list[float] = []
    for i in range(0, len(files), args.batch_size):
        images = []
        for j, f in enumerate(files[i:i + args.batch_size]):
            try:
                px, _ = scoring_frame(read_image(f))
            except ImageReadError:
                continue
            images.append(site.apply(px, args.seed + i + j) if site else px)
        logits += [r.raw_logit for r in scorer.score_batch(images)] if images else []
    pool = np.asarray(logits)
    if pool.size <= max(args.sizes):
        print(f"error: the pool has {pool.size} readable normals; sizes must stay below that",
              file=sys.stderr)
        return 2
    print(f"model {model.name} {model.version}; pool: {pool.size} normals"
          f"{'' if site is None else f' transformed by {site.description}'}; scored in "
          f"{time.perf_counter() - t0:.0f} s; target specificity {args.target:.2f}; "
          f"{args.draws} draws per size")
    op = scorer.operating_point
    if op is not None and scorer.calibrated:
        before = np.mean(scores_from_logits(pool, scorer.mu, scorer.sigma) < op.threshold)
        print(f"before re-calibration: specificity {before:.3f} at the model's stored "
              f"'{op.name}' threshold {op.threshold:.2f}")
    print("| margin | n | mean specificity | SD | 5th percentile | draws below 0.85 |")
    print("|---|---|---|---|---|---|")
    for margin in MARGINS:
        for n in args.sizes:
            _, s = recalibration_draws(pool, n, args.draws, min_specificity=args.target,
                                       margin=margin, seed=args.seed)
            print(f"| {margin} | {n} | {s.mean:.3f} | {s.sd:.3f} | {s.p05:.3f} | "
                  f"{100 * s.share_below:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
