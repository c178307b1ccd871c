"""The robustness yardstick for a model file: both AUCs under acquisition nuisances.

    python bench/robustness.py MODEL [--normal DIR... --abnormal DIR...] [--only KIND=S ...]
        [--extra-abnormal N] [--tta] [--threads 1] [--json OUT]

For each transform of :func:`squid_core.scoring.nuisance.nuisance_family` (zoom in,
zoom out with an edge-replicated border, gamma brighter and darker, contrast, blur,
sharpening, noise; several strengths each) applied to held-out normal images, prints
the AUC of untouched vs transformed normals (0.5 = the score ignores it) and the AUC
of transformed normals vs abnormal images (with its bootstrap 95 % interval); see
:mod:`squid_core.scoring.robustness`.

Default data: the report part of the bundled model's patient-grouped split
(``resources/models/default_split.csv``, parts ``report_normal`` and ``report_abnormal``:
150 normal + 1,000 pneumonia images of children the model never saw, which chose nothing;
a split file of older models, with ``val_normal``/``val_abnormal``, is read the same way). With
``--normal/--abnormal`` any folders (e.g. the ``select_*``/``report_*`` folders of
``scripts/make_zhanglab_split.py``). ``--extra-abnormal N`` adds N pneumonia images of
the data folder that the split file does not list (no training or selection step of the
bundled model saw them), drawn deterministically.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "zhanglab_224" / "train"
DEFAULT_SPLIT = ROOT / "resources" / "models" / "default_split.csv"
#: the split file's parts that give figures: the grouped split's report part, else (files
#: of older models) the validation part
FIGURE_PARTS = {"normal": ("report_normal", "val_normal"),
                "abnormal": ("report_abnormal", "val_abnormal")}


def _split_files(split_csv: Path, data: Path, *parts: str) -> list[Path]:
    """The files of the first of ``parts`` that the split file lists."""
    with open(split_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for part in parts:
        files = sorted(data / r["file"] for r in rows if r["part"] == part)
        if files:
            return files
    return []


def _extra_abnormal(split_csv: Path, data: Path, n: int, seed: int) -> list[Path]:
    from squid_core.training.splits import take_subset

    with open(split_csv, newline="") as fh:
        listed = {r["file"] for r in csv.DictReader(fh)}
    pool = [p for p in sorted((data / "PNEUMONIA").iterdir())
            if f"PNEUMONIA/{p.name}" not in listed]
    return take_subset(pool, n, seed)


def _read(files: list[Path]) -> list[np.ndarray]:
    from squid_core.io import ImageReadError, read_image
    from squid_core.scoring.analysis import scoring_frame

    out = []
    for f in files:
        try:
            px, _ = scoring_frame(read_image(f))
        except ImageReadError as e:
            print(f"skipped {f.name}: {e.reason}", file=sys.stderr)
            continue
        out.append(px)
    return out


def _standardised(by_bench: bool, scorer) -> str:
    if scorer.intensity_reference is not None:
        return "by the model file" + (" and again by the bench" if by_bench else "")
    return "yes" if by_bench else "no"


def tta_cost(model, images: list[np.ndarray], batch_size: int, device: str,
             repeats: int = 3) -> dict[str, float]:
    """Least process CPU time per image (ms) of scoring ``images`` without and with
    test-time averaging, the two timed in turn so that a busy machine slows both alike."""
    from squid_core.scoring.scorer import Scorer

    scorers = {"off": Scorer(model, device=device), "tta": Scorer(model, device=device, tta=True)}
    best = {k: float("inf") for k in scorers}
    for _ in range(repeats):
        for name, scorer in scorers.items():
            c = time.process_time()
            for i in range(0, len(images), batch_size):
                scorer.score_batch(images[i:i + batch_size])
            best[name] = min(best[name], (time.process_time() - c) * 1000 / len(images))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="model file (.safetensors)")
    ap.add_argument("--normal", type=Path, nargs="+", metavar="DIR",
                    help="held-out normal images (default: the split file's val_normal)")
    ap.add_argument("--abnormal", type=Path, nargs="+", metavar="DIR",
                    help="abnormal images (default: the split file's val_abnormal)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="ZhangLab train folder the split file refers to (default: %(default)s)")
    ap.add_argument("--split", type=Path, default=DEFAULT_SPLIT,
                    help="split CSV (part,file) (default: %(default)s)")
    ap.add_argument("--extra-abnormal", type=int, default=0, metavar="N",
                    help="add N pneumonia images of --data not listed in --split")
    ap.add_argument("--only", nargs="+", default=None, metavar="KIND=S",
                    help="only these transforms, e.g. gamma=0.8 zoom_in=1.15")
    ap.add_argument("--tta", action="store_true",
                    help="score with test-time averaging over re-framings (Scorer tta=True)")
    ap.add_argument("--standardise", action="store_true",
                    help="match every image's histogram to the mean of the reference normals "
                         "before scoring (squid_core.scoring.standardise)")
    ap.add_argument("--reference", type=Path, nargs="+", metavar="DIR",
                    help="reference normals for --standardise (default: the split file's "
                         "train_normal, the images the bundled model trained on)")
    ap.add_argument("--tta-cost", action="store_true",
                    help="only time scoring the normals without and with --tta (CPU ms/image)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps | auto (default cpu)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="noise and bootstrap seed (default 0)")
    ap.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                    help="bootstrap resamples for the intervals (default 2000)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the rows as JSON")
    args = ap.parse_args(argv)

    import torch

    import squid_core
    from squid_core.io import find_image_files
    from squid_core.model_file import ModelFileError
    from squid_core.scoring.nuisance import nuisance_family, parse_nuisance
    from squid_core.scoring.robustness import flagging_logit, format_table, robustness_table
    from squid_core.scoring.scorer import Scorer

    torch.set_num_threads(args.threads)
    try:
        nuisances = [parse_nuisance(t) for t in args.only] if args.only else nuisance_family()
    except ValueError as e:
        ap.error(str(e))
    if args.normal is None or args.abnormal is None:
        if not args.split.is_file() or not args.data.is_dir():
            ap.error(f"give --normal and --abnormal, or a split file ({args.split}) and its "
                     f"data folder ({args.data})")
    normal_files = (find_image_files(args.normal) if args.normal
                    else _split_files(args.split, args.data, *FIGURE_PARTS["normal"]))
    abnormal_files = (find_image_files(args.abnormal) if args.abnormal
                      else _split_files(args.split, args.data, *FIGURE_PARTS["abnormal"]))
    if args.extra_abnormal:
        abnormal_files += _extra_abnormal(args.split, args.data, args.extra_abnormal, args.seed)
    try:
        model = squid_core.load_model(args.model)
    except (ModelFileError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    normals, abnormals = _read(normal_files), _read(abnormal_files)
    if not normals or not abnormals:
        print("error: need at least one readable normal and one abnormal image", file=sys.stderr)
        return 2
    if args.tta_cost:
        cost = tta_cost(model, normals, args.batch_size, args.device)
        print(f"CPU time per image ({args.threads} thread(s), batch {args.batch_size}, "
              f"{len(normals)} images, best of 3): without TTA {cost['off']:.1f} ms, with TTA "
              f"{cost['tta']:.1f} ms ({cost['tta'] / cost['off']:.2f}x)")
        return 0
    scorer = Scorer(model, device=args.device, tta=args.tta)
    prepare = (lambda im: im)  # noqa: E731
    if args.standardise:
        from squid_core.scoring.standardise import match_histogram, reference_quantiles

        if args.reference:
            ref_files = find_image_files(args.reference)
        elif args.split.is_file() and args.data.is_dir():
            ref_files = _split_files(args.split, args.data, "train_normal")
        else:
            ap.error("--standardise needs --reference DIR or the split file and its data folder")
        reference = reference_quantiles(_read(ref_files))
        prepare = (lambda im: match_histogram(im, reference))  # noqa: E731

    def logits(images) -> np.ndarray:
        out = []
        for i in range(0, len(images), args.batch_size):
            batch = [prepare(im) for im in images[i:i + args.batch_size]]
            out += [r.raw_logit for r in scorer.score_batch(batch)]
        return np.asarray(out)

    op = scorer.operating_point if scorer.calibrated else None
    flag_below = None if op is None else flagging_logit(op.threshold, scorer.mu,
                                                        scorer.sigma)
    t0 = time.perf_counter()
    rows = robustness_table(logits, normals, abnormals, nuisances, seed=args.seed,
                            n_boot=args.bootstrap, flag_below=flag_below,
                            progress=lambda m: print(f"  {m}", file=sys.stderr))
    seconds = time.perf_counter() - t0
    print(f"model {model.name} {model.version}; {len(normals)} normal, {len(abnormals)} "
          f"abnormal images; ranks by the raw logit; tta {'on' if args.tta else 'off'}; "
          f"standardised {_standardised(args.standardise, scorer)}; "
          f"{seconds:.0f} s ({args.threads} thread(s), {scorer.precision})")
    print(format_table(rows, None if op is None else op.name))
    held = sum(r.holds for r in rows[1:])
    print(f"{held} of {len(rows) - 1} transforms meet both targets "
          f"(AUC normals vs transformed 0.40-0.60, vs abnormal >= 0.85)")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "model": str(args.model), "n_normal": len(normals), "n_abnormal": len(abnormals),
            "tta": args.tta, "standardise": args.standardise, "seconds": seconds, "rows": [r.as_dict() for r in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
