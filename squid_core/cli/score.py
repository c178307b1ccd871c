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
            "default operating point. One record per image: path, status, score, raw "
            "discriminator logit, verdict. Status: 'scored'; 'not-applicable' (the file is "
            "not what the model is for, e.g. an MR, a lateral view, a colour or multi-frame "
            "object: not scored unless --force); 'outside' (unlike the model's training "
            "data: the score is shown but uncalibrated). Unreadable files are reported in "
            "the output, never fatal."
        ),
    )
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--model", type=Path,
                   help="model file (.safetensors); default: the model library's active model, "
                        "else the bundled one")
    p.add_argument("--force", action="store_true",
                   help="score files that are not applicable too (they keep that status)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="images per batch (default 16)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", type=Path, metavar="OUT", help="write the records as JSON")
    out.add_argument("--csv", type=Path, metavar="OUT", help="write the records as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


@dataclass
class ScoreRecord:
    """One image's outcome; ``error`` is set (and the numbers None) when it was unreadable.

    ``status`` is the result's (``scored``, ``not-applicable``, ``outside``; "unreadable"
    for errors) and ``verdict`` the one-word outcome shown to users (see
    `squid_core.scoring.result.verdict`): a not-applicable or outside image is never
    "no flag"."""

    path: str
    score: float | None = None
    raw_logit: float | None = None
    flagged: bool | None = None
    operating_point: str | None = None
    error: str | None = None
    status: str = "unreadable"
    verdict: str = ""
    status_reason: str = ""
    ood_distance: float | None = None
    ood_threshold: float | None = None
    forced: bool = False

    @classmethod
    def from_result(cls, path: str, r: Any) -> ScoreRecord:
        op = r.operating_point.name if r.operating_point else None
        num = (lambda v: None if v is None else float(v))  # noqa: E731
        return cls(path, num(r.score), num(r.raw_logit), r.flagged, op, None, r.status,
                   r.verdict, r.status_reason, num(r.ood_distance), num(r.ood_threshold),
                   bool(r.forced))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score_files(
    scorer, files: Sequence[Path], batch_size: int = 16, progress: bool = True,
    force: bool = False,
) -> Iterator[ScoreRecord]:
    """Read and analyse ``files`` in batches with a :class:`squid_core.scoring.Scorer`
    (applicability first, see `squid_core.scoring.analysis`; ``force`` scores files that
    are not applicable too)."""
    from tqdm import tqdm

    from squid_core.io import ImageReadError, read_image
    from squid_core.scoring.analysis import analyse_batch

    bar = tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr)
    for i in range(0, len(files), batch_size):
        chunk = files[i : i + batch_size]
        items, ok, failed = [], [], {}
        for f in chunk:
            try:
                image = read_image(f)
                items.append((image.frame(0), image.meta))
                ok.append(f)
            except ImageReadError as e:
                failed[f] = e.reason
        results = dict(zip(ok, analyse_batch(scorer, items, force=force), strict=True))
        for f in chunk:
            if f in failed:
                yield ScoreRecord(str(f), error=failed[f])
            else:
                yield ScoreRecord.from_result(str(f), results[f])
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
        print("path\tstatus\tscore\traw_logit\tverdict\treason")
        for r in records:
            if r.error:
                print(f"{r.path}\tunreadable\t\t\tERROR\t{r.error}")
                continue
            score = "" if r.score is None else f"{r.score:.1f}"
            raw = "" if r.raw_logit is None else f"{r.raw_logit:.6g}"
            print(f"{r.path}\t{r.status}\t{score}\t{raw}\t{r.verdict}\t{r.status_reason}")


def status_counts(records: Sequence[ScoreRecord], what: str) -> str:
    """E.g. "normal: 2 of 100 outside the training data, 0 not applicable"."""
    from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE

    n = sum(r.error is None for r in records)
    out = sum(r.status == OUTSIDE for r in records)
    na = sum(r.status == NOT_APPLICABLE for r in records)
    pct = f" ({100 * out / n:.1f} %)" if n else ""
    return f"{what}: {out} of {n} outside the training data{pct}, {na} not applicable"


def load_model_or_report(path: Path) -> Any:
    """The model at ``path``, or None after printing why it cannot be used."""
    import squid_core
    from squid_core.model_file import ModelFileError

    try:
        return squid_core.load_model(path)
    except ModelFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def chosen_model(explicit: Path | None) -> tuple[Any, Path | None]:
    """(model, path) for ``--model`` or the active model, after saying which on stderr;
    (None, None) after printing why there is none."""
    from squid_core.cli.active_model import model_path

    path, how = model_path(explicit)
    if path is None:
        print(f"error: {how}; give --model", file=sys.stderr)
        return None, None
    model = load_model_or_report(path)
    if model is not None:
        print(f"model: {model.name} {model.version} ({path}, {how})", file=sys.stderr)
    return model, path


def run(args: argparse.Namespace) -> int:
    from squid_core.io import find_image_files
    from squid_core.scoring.result import NOT_APPLICABLE, OUTSIDE
    from squid_core.scoring.scorer import Scorer

    model, model_file = chosen_model(args.model)
    if model is None:
        return 2
    missing = [p for p in args.paths if not p.exists()]
    files = find_image_files([p for p in args.paths if p.exists()])
    scorer = Scorer(model, device=args.device)
    records = [ScoreRecord(str(p), error="no such file or folder") for p in missing]
    records += list(score_files(scorer, files, args.batch_size, progress=not args.quiet,
                                force=args.force))
    extra = {
        "model": str(model_file), "model_name": model.name, "model_version": model.version,
        "operating_point": model.metadata.get("default_operating_point"),
        "ood_guard": model.ood_guard is not None,
    }
    write_records(records, args.json, args.csv, extra)
    n_err = sum(r.error is not None for r in records)
    n_na = sum(r.status == NOT_APPLICABLE for r in records)
    n_out = sum(r.status == OUTSIDE for r in records)
    n_flag = sum(bool(r.flagged) and r.status not in (NOT_APPLICABLE, OUTSIDE) for r in records)
    n_scored = len(records) - n_err - n_na - n_out
    print(f"{n_scored} scored ({n_flag} flagged), {n_out} outside the training data, "
          f"{n_na} not applicable (needs review: {n_out + n_na}), {n_err} unreadable",
          file=sys.stderr)
    return 0 if records and all(math.isfinite(r.score) for r in records if r.score is not None) else 1
