"""``squid eval``: AUC, ROC and rates at the model's stored operating point on labelled folders."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model on folders of normal and abnormal images",
        description=(
            "Score labelled images and report AUC, ROC points, and sensitivity, specificity, "
            "accuracy and F1 at each operating point stored in the model (chosen on its "
            "validation split, never tuned on the set evaluated here). With --labels (a "
            "DigitAnatomy labels.csv), AUC per anomaly type too."
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


def evaluate(records_normal, records_abnormal, model) -> dict[str, Any]:
    """The report for scored normal/abnormal records (unreadable ones are counted, not used)."""
    from squid_core.metrics import auc, metrics_at_threshold, roc_points

    good = [(r, 0) for r in records_normal if r.error is None]
    good += [(r, 1) for r in records_abnormal if r.error is None]
    scores = [r.score for r, _ in good]
    # AUC ranks by the raw logit (low = anomalous): the same order as the score, without
    # the ties of a score saturated at 0 or 100 far from the calibration.
    ranks = [-r.raw_logit for r, _ in good]
    y = [lab for _, lab in good]
    report: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "n_normal": y.count(0),
        "n_abnormal": y.count(1),
        "n_unreadable": sum(r.error is not None for r in [*records_normal, *records_abnormal]),
        "auc": auc(ranks, y),
        "roc": roc_points(scores, y) if 0 < sum(y) < len(y) else None,
        "default_operating_point": model.metadata.get("default_operating_point"),
        "operating_points": [],
    }
    for op in model.metadata.get("operating_points") or []:
        m = metrics_at_threshold(scores, y, float(op["threshold"])).as_dict()
        report["operating_points"].append({
            "name": op["name"], "rule": op.get("rule"), "validation_sensitivity":
            op.get("sensitivity"), "validation_specificity": op.get("specificity"), **m,
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


def run(args: argparse.Namespace) -> int:
    from squid_core.cli.score import chosen_model, score_files
    from squid_core.scoring.scorer import Scorer
    from squid_core.training.datasets import list_image_files

    model, _ = chosen_model(args.model)
    if model is None:
        return 2
    normal_files, abnormal_files = list_image_files(args.normal), list_image_files(args.abnormal)
    if not normal_files or not abnormal_files:
        print("error: need at least one normal and one abnormal image", file=sys.stderr)
        return 2
    scorer = Scorer(model, device=args.device)
    # Every readable image is scored (force): the figures are about the model on these
    # folders; how many are outside its training data or not applicable is reported.
    rn = list(score_files(scorer, normal_files, args.batch_size, not args.quiet, force=True))
    ra = list(score_files(scorer, abnormal_files, args.batch_size, not args.quiet, force=True))
    report = evaluate(rn, ra, model)
    if args.labels is not None:
        good = [r for r in rn + ra if r.error is None]
        y = [0] * sum(r.error is None for r in rn) + [1] * sum(r.error is None for r in ra)
        report["auc_per_anomaly_type"] = _per_type_auc(
            args.labels, [r.path for r in good], [-r.raw_logit for r in good], y
        )
    report["images"] = [{**r.as_dict(), "label": lab} for rs, lab in ((rn, 0), (ra, 1)) for r in rs]
    report = _json_safe(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    auc = report["auc"]
    print(f"AUC {auc:.4f}" if auc is not None else "AUC n/a",
          f"({report['n_normal']} normal, {report['n_abnormal']} abnormal, "
          f"{report['n_unreadable']} unreadable)")
    from squid_core.cli.score import status_counts

    print(status_counts(rn, "normal"), status_counts(ra, "abnormal"), sep="\n")
    for kind, v in (report.get("auc_per_anomaly_type") or {}).items():
        print(f"  AUC {kind}: {_fmt(v)}")
    for op in report["operating_points"]:
        mark = " (default)" if op["name"] == report["default_operating_point"] else ""
        rates = "  ".join(f"{k} {_fmt(op[k])}" for k in ("sensitivity", "specificity",
                                                          "accuracy", "f1"))
        print(f"  {op['name']}{mark}: threshold {op['threshold']:.2f}  {rates}")
    return 0
