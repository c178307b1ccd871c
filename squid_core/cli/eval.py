"""``squid eval``: AUC, ROC and rates at the model's stored operating point on labelled folders."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from squid_core.bootstrap import DEFAULT_BOOTSTRAP


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model on folders of normal and abnormal images",
        description=(
            "Score labelled images and report AUC, ROC points, and sensitivity, specificity, "
            "accuracy and F1 at each operating point stored in the model (chosen on its "
            "validation split, never tuned on the set evaluated here), with stratified "
            "bootstrap 95 % confidence intervals for the AUC and for each point's "
            "sensitivity and specificity (normals and abnormals resampled separately, "
            "seeded). With --labels (a DigitAnatomy labels.csv), AUC per anomaly type too."
        ),
    )
    p.add_argument("--model", type=Path,
                   help="model file (.safetensors); default: the model library's active model, "
                        "else the bundled one")
    p.add_argument("--normal", type=Path, nargs="+", required=True, metavar="DIR",
                   help="folder(s) of normal images")
    p.add_argument("--abnormal", type=Path, nargs="+", required=True, metavar="DIR",
                   help="folder(s) of abnormal images")
    p.add_argument("--labels", type=Path, metavar="CSV",
                   help="labels.csv with file and anomaly_type columns (per-type AUC)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, metavar="N",
                   help="bootstrap resamples for the 95 %% intervals (default %(default)s; 0: none)")
    p.add_argument("--bootstrap-seed", type=int, default=0, metavar="S",
                   help="seed of the bootstrap resamples (default 0)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _per_type_auc(labels_csv: Path, paths: list[str], scores, y) -> dict[str, float]:
    from squid_core.metrics import auc

    with open(labels_csv, newline="") as fh:
        kind_of = {Path(r["file"]).name: r.get("anomaly_type", "") for r in csv.DictReader(fh)}
    kinds = [kind_of.get(Path(p).name, "") for p in paths]
    out = {}
    for kind in sorted({k for k, lab in zip(kinds, y, strict=True) if lab == 1 and k}):
        pairs = enumerate(zip(kinds, y, strict=True))
        idx = [i for i, (k, lab) in pairs if lab == 0 or k == kind]
        out[kind] = auc([scores[i] for i in idx], [y[i] for i in idx])
    return out


def evaluate(records_normal, records_abnormal, model, *, n_boot: int = 0,
             seed: int = 0) -> dict[str, Any]:
    """The report for scored normal/abnormal records (unreadable ones are counted, not used).

    With ``n_boot`` > 0, stratified bootstrap 95 % intervals (``auc_ci``; per operating
    point ``sensitivity_ci`` and ``specificity_ci``: ``{estimate, low, high, level}``).
    """
    from squid_core.bootstrap import bootstrap_auc, bootstrap_rates
    from squid_core.metrics import auc, metrics_at_threshold, roc_points

    good = [(r, 0) for r in records_normal if r.error is None]
    good += [(r, 1) for r in records_abnormal if r.error is None]
    scores = [r.summary.score for r, _ in good]
    # AUC ranks by the raw logit (low = anomalous): the same order as the score, without
    # the ties of a score saturated at 0 or 100 far from the calibration.
    ranks = [-r.summary.raw_logit for r, _ in good]
    y = [lab for _, lab in good]
    report: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "n_normal": y.count(0),
        "n_abnormal": y.count(1),
        "n_unreadable": sum(r.error is not None for r in [*records_normal, *records_abnormal]),
        "auc": auc(ranks, y),
        "roc": roc_points(scores, y) if 0 < sum(y) < len(y) else None,
        "bootstrap": {"resamples": n_boot, "seed": seed, "stratified": True} if n_boot else None,
        "auc_ci": bootstrap_auc(ranks, y, n_boot=n_boot, seed=seed).as_dict() if n_boot else None,
        "default_operating_point": model.metadata.get("default_operating_point"),
        "operating_points": [],
    }
    for op in model.metadata.get("operating_points") or []:
        m = metrics_at_threshold(scores, y, float(op["threshold"])).as_dict()
        cis = (bootstrap_rates(scores, y, float(op["threshold"]), n_boot=n_boot, seed=seed)
               if n_boot else {})
        report["operating_points"].append({
            "name": op["name"], "rule": op.get("rule"), "validation_sensitivity":
            op.get("sensitivity"), "validation_specificity": op.get("specificity"), **m,
            **{f"{k}_ci": v.as_dict() for k, v in cis.items()},
        })
    return report


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _interval(ci: dict[str, Any]) -> str:
    return "n/a" if ci.get("low") is None else f"{ci['low']:.3f}-{ci['high']:.3f}"


def run(args: argparse.Namespace) -> int:
    from squid_core.cli.score import chosen_model, score_files
    from squid_core.io import find_image_files
    from squid_core.scoring.scorer import Scorer

    model, _ = chosen_model(args.model)
    if model is None:
        return 2
    normal_files, abnormal_files = find_image_files(args.normal), find_image_files(args.abnormal)
    if not normal_files or not abnormal_files:
        print("error: need at least one normal and one abnormal image", file=sys.stderr)
        return 2
    scorer = Scorer(model, device=args.device)
    if args.bootstrap < 0:
        print("error: --bootstrap must be 0 or more", file=sys.stderr)
        return 2
    # Every readable image is scored (force): the figures are about the model on these
    # folders; how many are outside its training data or not applicable is reported.
    rn = list(score_files(scorer, normal_files, args.batch_size, not args.quiet, force=True))
    ra = list(score_files(scorer, abnormal_files, args.batch_size, not args.quiet, force=True))
    report = evaluate(rn, ra, model, n_boot=args.bootstrap, seed=args.bootstrap_seed)
    if args.labels is not None:
        good = [r for r in rn + ra if r.error is None]
        y = [0] * sum(r.error is None for r in rn) + [1] * sum(r.error is None for r in ra)
        report["auc_per_anomaly_type"] = _per_type_auc(
            args.labels, [r.path for r in good], [-r.summary.raw_logit for r in good], y
        )
    report["images"] = [{**r.as_dict(), "label": lab} for rs, lab in ((rn, 0), (ra, 1)) for r in rs]
    report = _json_safe(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    auc = report["auc"]
    print(f"AUC {auc:.4f}" if auc is not None else "AUC n/a",
          f"({report['n_normal']} normal, {report['n_abnormal']} abnormal, "
          f"{report['n_unreadable']} unreadable)")
    if report.get("auc_ci") and report["auc_ci"]["low"] is not None:
        print(f"  95 % CI (stratified bootstrap, {args.bootstrap} resamples, seed "
              f"{args.bootstrap_seed}): AUC {_interval(report['auc_ci'])}")
    from squid_core.cli.score import status_counts

    print(status_counts(rn, "normal"), status_counts(ra, "abnormal"), sep="\n")
    for kind, v in (report.get("auc_per_anomaly_type") or {}).items():
        print(f"  AUC {kind}: {_fmt(v)}")
    for op in report["operating_points"]:
        mark = " (default)" if op["name"] == report["default_operating_point"] else ""
        rates = "  ".join(f"{k} {_fmt(op[k])}" for k in ("sensitivity", "specificity",
                                                          "accuracy", "f1"))
        print(f"  {op['name']}{mark}: threshold {op['threshold']:.2f}  {rates}")
        if "sensitivity_ci" in op:
            print(f"    95 % CI: sensitivity {_interval(op['sensitivity_ci'])}  "
                  f"specificity {_interval(op['specificity_ci'])}")
    return 0
