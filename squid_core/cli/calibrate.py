"""``squid calibrate``: re-calibrate a model on a site's normal studies, weights unchanged.

A score means "how unlike the normal studies this model was calibrated on"; a site
whose images differ (another detector, another population) can re-calibrate on its own
normals without training: mu and sigma of the discriminator logit, the per-location
residual statistics of the heatmap and, with a labelled validation folder, the
operating points and validation metrics. The weights are not touched.

The ``balanced`` point is placed with a margin (the lower end of the specificity's 95 %
bootstrap interval reaches 0.90), on the validation normals or, without them, on the
calibration normals. Use at least 100, better 200, of the site's normal studies: measured
with ``bench/recalibration.py``, fewer normals keep the specificity but widen the margin
(see docs/robustness.md).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="re-calibrate a model on normal images (weights unchanged)",
        description="\n\n".join(__doc__.split("\n\n")[1:3]),
    )
    p.add_argument("--model", type=Path, required=True, help="model file to calibrate")
    p.add_argument("--normal", type=Path, nargs="+", required=True, metavar="DIR",
                   help="folder(s) of normal images (DICOM/PNG/JPEG/TIFF, recursive); at least "
                        "100, better 200, studies of the site")
    p.add_argument("--val-normal", type=Path, nargs="+", default=[], metavar="DIR",
                   help="normal validation images (for the operating points)")
    p.add_argument("--val-abnormal", type=Path, nargs="+", default=[], metavar="DIR",
                   help="abnormal validation images (for the operating points)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--workers", type=int, default=2, help="threads decoding images (default 2)")
    p.add_argument("--standardise", action="store_true",
                   help="match every image's histogram to the mean of these normals' (stored in "
                        "the model; the scorer, calibration and training then apply it). Give "
                        "the model's TRAINING normals here, once; re-calibrating at a site later "
                        "keeps the stored reference (docs/robustness.md)")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="MODEL",
                   help="where to write the calibrated model (may be --model itself)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from squid_core.cli.score import load_model_or_report
    from squid_core.model.discriminator import PER_IMAGE
    from squid_core.scoring.device import resolve_device
    from squid_core.scoring.ood_guard import MIN_IMAGES
    from squid_core.training.config import TrainConfig
    from squid_core.training.data_setup import folder_training_data
    from squid_core.training.finalize import calibrate_model, clean_json

    if bool(args.val_normal) != bool(args.val_abnormal):
        print("error: give both --val-normal and --val-abnormal, or neither", file=sys.stderr)
        return 2
    model = load_model_or_report(args.model)
    if model is None:
        return 2
    device = resolve_device(args.device)
    size = model.config.image_size
    data = folder_training_data(
        args.normal, (size, size), val_normal_dirs=args.val_normal,
        val_abnormal_dirs=args.val_abnormal, workers=args.workers,
        status=lambda m: print(m, file=sys.stderr),
    )
    for r in data.rejected:
        print(f"skipped {r.path}: {r.reason}", file=sys.stderr)
    if len(data.train) == 0:
        print("error: no readable normal image to calibrate on", file=sys.stderr)
        return 2
    before = model.discriminator_statistics
    model.metadata["discriminator_statistics"] = PER_IMAGE
    if args.standardise:
        from squid_core.scoring.standardise import attach_reference

        attach_reference(model, data.train.images)
    cfg = TrainConfig(preset="compact", batch_size=args.batch_size)
    model.to(device)
    metrics = calibrate_model(model, data, cfg, device)
    model.metadata["calibrated_on"] = clean_json({
        "data": data.summary,
        "discriminator_statistics_before": before,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    model.to("cpu").save(args.out)
    cal = model.metadata["calibration"]
    print(f"calibrated on {cal['n_images']} normal image(s): mu {cal['mu']:.4f}, "
          f"sigma {cal['sigma']:.4f}"
          + ("; images standardised to their mean histogram" if args.standardise else ""))
    guard = model.ood_guard
    if guard is not None and guard.n_images == cal["n_images"]:
        state = f"refitted, threshold {guard.threshold:.2f} ({guard.metadata()['threshold_rule']})"
    elif guard is not None:
        state = (f"kept the model's previous guard ({guard.n_images} images): fewer than "
                 f"{MIN_IMAGES} normal images to refit it")
    else:
        state = f"none (fewer than {MIN_IMAGES} normal images)"
    print(f"out-of-distribution guard: {state}")
    val = metrics.get("validation")
    if val:
        print(f"validation AUC {val['auc']:.4f} ({val['n_normal']} normal, "
              f"{val['n_abnormal']} abnormal)")
    for op in model.metadata["operating_points"]:
        print(f"  {op['name']}: flag if score >= {op['threshold']:.2f} ({op.get('rule', '')})")
    print(f"wrote {args.out}")
    return 0
