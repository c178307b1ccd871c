"""``squid score``: anomaly scores for image files and folders, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="score images (files or folders) with a model",
        description=(
            "Score every image given (folders are searched recursively) with the model's "
            "calibrated score (0-100, 100 = most anomalous) and flag it at the model's "
            "default operating point. One record per image: path, score, raw discriminator "
            "logit, flag. Unreadable files are reported in the output, never fatal."
        ),
    )
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--model", type=Path, required=True, help="model file (.safetensors)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", type=Path, metavar="OUT", help="write the records as JSON")
    out.add_argument("--csv", type=Path, metavar="OUT", help="write the records as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@dataclass
class ScoreRecord:
    """One image's outcome; ``error`` is set (and the numbers None) when it was unreadable."""

    path: str
    score: float | None = None
    raw_logit: float | None = None
    flagged: bool | None = None
    operating_point: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score_files(
    scorer, files: Sequence[Path], batch_size: int = 16, progress: bool = True
) -> Iterator[ScoreRecord]:
    """Read and score ``files`` in batches with a :class:`squid_core.scoring.Scorer`."""
    from tqdm import tqdm

    from squid_core.io import ImageReadError, read_image

    bar = tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr)
    for i in range(0, len(files), batch_size):
        chunk = files[i : i + batch_size]
        pixels, ok, failed = [], [], {}
        for f in chunk:
            try:
                px = read_image(f).pixels
                pixels.append(px[0] if px.ndim == 3 else px)
                ok.append(f)
            except ImageReadError as e:
                failed[f] = e.reason
        results = dict(zip(ok, scorer.score_batch(pixels), strict=True)) if pixels else {}
        for f in chunk:
            if f in failed:
                yield ScoreRecord(str(f), error=failed[f])
            else:
                r = results[f]
                op = r.operating_point.get("name") if r.operating_point else None
                yield ScoreRecord(str(f), float(r.score), float(r.raw_logit), r.flagged, op)
        bar.update(len(chunk))
    bar.close()


def write_records(records: list[ScoreRecord], json_path: Path | None, csv_path: Path | None,
                  extra: dict[str, Any] | None = None) -> None:
    """Records to JSON (with ``extra`` fields), CSV, or a table on stdout."""
    if json_path is not None:
        doc = {**(extra or {}), "images": [r.as_dict() for r in records]}
        json_path.write_text(json.dumps(doc, indent=2))
    elif csv_path is not None:
        with open(csv_path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(ScoreRecord.__dataclass_fields__))
            w.writeheader()
            w.writerows(r.as_dict() for r in records)
    else:
        for r in records:
            if r.error:
                print(f"{r.path}\tERROR\t{r.error}")
            else:
                flag = {True: "FLAG", False: "-", None: "?"}[r.flagged]
                print(f"{r.path}\t{r.score:.1f}\t{r.raw_logit:.6g}\t{flag}")


def load_model_or_report(path: Path) -> Any:
    """The model at ``path``, or None after printing why it cannot be used."""
    import squid_core
    from squid_core.model_file import ModelFileError

    try:
        return squid_core.load_model(path)
    except ModelFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from squid_core.scoring.scorer import Scorer
    from squid_core.training.datasets import list_image_files

    model = load_model_or_report(args.model)
    if model is None:
        return 2
    missing = [p for p in args.paths if not p.exists()]
    files = list_image_files([p for p in args.paths if p.exists()])
    scorer = Scorer(model, device=args.device)
    records = [ScoreRecord(str(p), error="no such file or folder") for p in missing]
    records += list(score_files(scorer, files, args.batch_size, progress=not args.quiet))
    extra = {
        "model": str(args.model), "model_name": model.name, "model_version": model.version,
        "operating_point": model.metadata.get("default_operating_point"),
    }
    write_records(records, args.json, args.csv, extra)
    n_err = sum(r.error is not None for r in records)
    n_flag = sum(bool(r.flagged) for r in records)
    print(f"{len(records) - n_err} scored, {n_flag} flagged, {n_err} unreadable", file=sys.stderr)
    return 0 if records and all(math.isfinite(r.score) for r in records if r.score is not None) else 1
