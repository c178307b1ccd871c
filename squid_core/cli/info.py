"""``squid info MODEL``: print a model file's description without running it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def describe(doc: dict[str, Any]) -> str:
    """Human-readable summary of a model file's metadata document."""
    cfg = doc.get("config") or {}
    lines = [
        f"name:              {doc.get('name')}",
        f"version:           {doc.get('version')}",
        f"created:           {doc.get('created')}",
        f"software version:  {doc.get('software_version')}",
        f"format:            {doc.get('format')} v{doc.get('format_version')}",
        "architecture:      "
        f"{cfg.get('image_size')} px, {cfg.get('num_patch')}x{cfg.get('num_patch')} patches, "
        f"{cfg.get('level')} levels, features_root {cfg.get('features_root')}, "
        f"memory {cfg.get('num_slots')} x {cfg.get('memory_channel')}, top-{cfg.get('shrink_thres')}",
    ]
    stats = doc.get("discriminator_statistics") or "running"
    lines.append(f"scoring:           discriminator BatchNorm with {stats} statistics"
                 + ("" if stats == "per-image" else " (a file from before per-image scoring)"))
    cal = doc.get("calibration")
    if cal:
        lines.append(f"calibration:       mu {cal.get('mu'):.4g}, sigma {cal.get('sigma'):.4g} "
                     f"({cal.get('n_images')} normal images)")
    else:
        lines.append("calibration:       none (scores use mu = 0, sigma = 1)")
    ops = doc.get("operating_points") or []
    default = doc.get("default_operating_point")
    if ops:
        lines.append("operating points:")
        for op in ops:
            mark = " (default)" if op.get("name") == default else ""
            sens, spec = op.get("sensitivity"), op.get("specificity")
            extra = ""
            if sens is not None and spec is not None:
                extra = f", sensitivity {sens:.3f}, specificity {spec:.3f}"
            lines.append(f"  {op.get('name')}: score >= {op.get('threshold'):.2f} "
                         f"[{op.get('rule')}]{extra}{mark}")
    else:
        lines.append("operating points:  none")
    heat = doc.get("heatmap")
    lines.append(f"heatmap:           {heat.get('units')}, scale max {heat.get('scale_max')}"
                 if heat else "heatmap:           raw residual (no normal statistics)")
    if doc.get("metrics"):
        lines.append("metrics:           " + json.dumps(doc["metrics"], sort_keys=True))
    if doc.get("training"):
        lines.append("training:          " + json.dumps(doc["training"], sort_keys=True))
    if doc.get("notes"):
        lines.append(f"notes:             {doc['notes']}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from squid_core.model_file import ModelFileError, read_header

    try:
        _, doc = read_header(args.model)
    except ModelFileError as exc:
        print(f"squid info: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    try:
        print(describe(doc))
    except (TypeError, ValueError, AttributeError):  # odd field types: show the raw document
        print(json.dumps(doc, indent=2))
    return 0


def register(subparsers: Any) -> None:
    """Add the ``info`` sub-command."""
    p = subparsers.add_parser("info", help="print a model file's metadata")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--json", action="store_true", help="print the raw metadata document")
    p.set_defaults(func=_run)
