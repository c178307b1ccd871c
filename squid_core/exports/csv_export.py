"""CSV of the scores of every image opened: one row per image, fixed columns.

Unscored images are written too (empty score), so the file accounts for everything
that was opened. With ``anonymise`` the patient columns are left empty and the file
name is kept without its folder.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CSV_COLUMNS = (
    "file", "patient_id", "patient_name", "study_date", "modality", "body_part", "view",
    "score", "flagged", "operating_point", "operating_threshold", "raw_logit",
    "model_name", "model_version", "device", "seconds", "frame",
)
_PATIENT_COLUMNS = ("patient_id", "patient_name", "study_date")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"
    return str(value)


def write_scores_csv(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]],
                     *, anonymise: bool = False) -> int:
    """Write ``rows`` (dicts keyed by :data:`CSV_COLUMNS`) to ``path``; return the count.

    Missing keys become empty cells; unknown keys are ignored. Written to a temporary
    file first and moved into place, so a failed export leaves no half-written file.
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    n = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            values = dict(row)
            if anonymise:
                for key in _PATIENT_COLUMNS:
                    values[key] = ""
                values["file"] = Path(str(values.get("file", ""))).name
            writer.writerow([_cell(values.get(c)) for c in CSV_COLUMNS])
            n += 1
    os.replace(tmp, target)
    return n
