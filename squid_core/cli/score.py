"""``squid score``: anomaly scores for image files and folders, as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `squid --help` stays light
    from squid_core.scoring.summary import ResultSummary

#: The status of a file that could not be read.
UNREADABLE = "unreadable"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="score images (files or folders) with a model",
        description=(
            "Score every image given (folders are searched recursively) with the model's "
            "calibrated score (0-100, 100 = most anomalous) and flag it at the model's "
            "default operating point. One record per image: path, status, score, raw "
            "discriminator logit, verdict, reason, frame (a multi-frame image is scored on "
            "its first frame). Status: 'scored'; 'not-applicable' (the file is "
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


@dataclass(frozen=True)
class ScoredFile:
    """One file given to ``squid score`` / ``squid eval``: its `ResultSummary` (the one
    summary every surface uses), or ``error`` (then ``summary`` is None) when unreadable.

    ``status`` is the summary's (``scored``, ``not-applicable``, ``outside``) or
    "unreadable"; a not-applicable or outside image is never "no flag" (see
    `squid_core.scoring.result.verdict`)."""

    path: str
    summary: ResultSummary | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """The summary's status, or "unreadable"."""
        return UNREADABLE if self.summary is None else self.summary.status

    def as_dict(self) -> dict[str, Any]:
        """The JSON record: path, the summary's `row` (empty when unreadable), error."""
        from squid_core.scoring.summary import SUMMARY_FIELDS

        row = ({k: None for k in SUMMARY_FIELDS} | {"status": UNREADABLE, "verdict": ""}
               if self.summary is None else self.summary.row())
        return {"path": self.path, **row, "error": self.error}

    def csv_row(self) -> dict[str, Any]:
        """The CSV record: as `as_dict`, with the flag as a word (yes / no / review)."""
        from squid_core.exports.csv_export import summary_cells

        if self.summary is None:
            return self.as_dict()
        return {"path": self.path, **summary_cells(self.summary), "error": None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoredFile:
        """Back from `as_dict` (a record of ``squid score --json`` / ``squid eval --json``)."""
        from squid_core.scoring.summary import ResultSummary

        if d.get("error"):
            return cls(str(d["path"]), None, str(d["error"]))
        return cls(str(d["path"]), ResultSummary.from_row(d))


def score_files(
    scorer, files: Sequence[Path], batch_size: int = 16, progress: bool = True,
    force: bool = False,
) -> Iterator[ScoredFile]:
    """Read and analyse ``files`` in batches with a :class:`squid_core.scoring.Scorer`
    through `squid_core.scoring.analysis.analyse_images` (applicability first; the frame
    every surface scores by default; ``force`` scores files that are not applicable too)."""
    from tqdm import tqdm

    from squid_core.io import ImageReadError, read_image
    from squid_core.scoring.analysis import analyse_images
    from squid_core.scoring.summary import ResultSummary

    bar = tqdm(total=len(files), unit="img", disable=not progress, file=sys.stderr)
    for i in range(0, len(files), batch_size):
        chunk = files[i : i + batch_size]
        images, failed = {}, {}
        for f in chunk:
            try:
                images[f] = read_image(f)
            except ImageReadError as e:
                failed[f] = e.reason
        results = dict(zip(images, analyse_images(scorer, list(images.values()), force=force),
                           strict=True))
        for f in chunk:
            if f in failed:
                yield ScoredFile(str(f), error=failed[f])
            else:
                yield ScoredFile(str(f), ResultSummary.from_result(results[f]))
        bar.update(len(chunk))
    bar.close()


def write_records(records: list[ScoredFile], json_path: Path | None, csv_path: Path | None,
                  extra: dict[str, Any] | None = None) -> None:
    """Records to JSON (with ``extra`` fields), CSV (the viewer CSV's cells), or a table
    on stdout."""
    if json_path is not None:
        doc = {**(extra or {}), "images": [r.as_dict() for r in records]}
        json_path.write_text(json.dumps(doc, indent=2))
    elif csv_path is not None:
        from squid_core.exports.csv_export import write_scores_csv
        from squid_core.scoring.summary import SUMMARY_FIELDS

        write_scores_csv(csv_path, (r.csv_row() for r in records),
                         columns=("path", *SUMMARY_FIELDS, "error"))
    else:
        print("path\tstatus\tscore\traw_logit\tverdict\treason\tframe")
        for r in records:
            s = r.summary
            if s is None:
                print(f"{r.path}\t{UNREADABLE}\t\t\tERROR\t{r.error}\t")
                continue
            score = "" if s.score is None else f"{s.score:.1f}"
            raw = "" if s.raw_logit is None else f"{s.raw_logit:.6g}"
            print(f"{r.path}\t{s.status}\t{score}\t{raw}\t{s.verdict}\t{s.status_reason}\t"
                  f"{s.frame}")


def status_counts(records: Sequence[ScoredFile], what: str) -> str:
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
    files = find_image_files(args.paths)  # a missing path is reported by the reader
    scorer = Scorer(model, device=args.device)
    records = list(score_files(scorer, files, args.batch_size, progress=not args.quiet,
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
    summaries = [r.summary for r in records if r.summary is not None]
    n_flag = sum(bool(s.flagged) and not s.needs_review for s in summaries)
    n_scored = len(records) - n_err - n_na - n_out
    print(f"{n_scored} scored ({n_flag} flagged), {n_out} outside the training data, "
          f"{n_na} not applicable (needs review: {n_out + n_na}), {n_err} unreadable",
          file=sys.stderr)
    finite = all(math.isfinite(s.score) for s in summaries if s.score is not None)
    return 0 if records and finite else 1
