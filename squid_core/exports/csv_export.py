"""CSV of the scores of every image opened: one row per image, fixed columns.

The score columns are a `ResultSummary`'s (:data:`SUMMARY_FIELDS`, through
:func:`summary_cells`), the same in the viewer's CSV and ``squid score --csv``. Unscored
images are written too (empty score), so the file accounts for everything that was
opened; ``status`` (scored / not-applicable / outside), ``verdict`` and
``status_reason`` say when a score is not the model's answer, and ``flagged`` then says
"review", never "no". With ``anonymise`` the patient columns are left empty and the
file name is kept without its folder.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from squid_core.atomic_file import FileWriteError, atomic_output
from squid_core.scoring.summary import SUMMARY_FIELDS, ResultSummary, flag_word

CSV_COLUMNS = (
    "file", "patient_id", "patient_name", "study_date", "modality", "body_part", "view",
    *SUMMARY_FIELDS,
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


def summary_cells(summary: ResultSummary) -> dict[str, Any]:
    """A summary's columns of a CSV row: its `row`, with the flag as a word (`flag_word`)."""
    return {**summary.row(), "flagged": flag_word(summary)}


def write_scores_csv(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]],
                     *, anonymise: bool = False,
                     columns: Sequence[str] = CSV_COLUMNS) -> int:
    """Write ``rows`` (dicts keyed by ``columns``) to ``path``; return the count.

    Missing keys become empty cells; unknown keys are ignored. Written to a temporary
    file beside ``path`` and moved into place, so a failed export (a full or read-only
    disk) leaves an earlier file of that name as it was; it raises
    :class:`~squid_core.atomic_file.FileWriteError` naming the file and the reason.
    """
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    n = 0
    for row in rows:
        values = dict(row)
        if anonymise:
            for key in _PATIENT_COLUMNS:
                values[key] = ""
            if "file" in values:
                values["file"] = Path(str(values["file"])).name
        writer.writerow([_cell(values.get(c)) for c in columns])
        n += 1
    try:
        with atomic_output(path) as handle:
            handle.write(text.getvalue().encode("utf-8"))
    except OSError as exc:
        raise FileWriteError.from_os_error(path, exc, "CSV export") from exc
    return n
