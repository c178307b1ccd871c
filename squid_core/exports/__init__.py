"""Exports of analysis results: CSV of scores, DICOM Secondary Capture, DICOM SR.

No Qt here (the viewer renders report images itself): these functions take arrays,
pydicom datasets and plain values, so the command line can use them as well.

    from squid_core.exports import write_scores_csv, secondary_capture, score_report

Anonymisation (:func:`anonymise_dataset`) follows a subset of the DICOM PS3.15 Basic
Application Level Confidentiality Profile: identifying Type 2 attributes are emptied,
other identifying attributes and private tags removed, UIDs replaced consistently
within one run of the program.

Every export is written atomically (a temporary file beside the target, then a rename):
on a full or read-only disk an earlier file of the same name stays as it was and
:class:`squid_core.atomic_file.FileWriteError` (an OSError) says which file and why.
"""

from __future__ import annotations

from squid_core.exports.anonymise import IDENTIFYING_KEYWORDS, anonymise_dataset
from squid_core.exports.csv_export import CSV_COLUMNS, summary_cells, write_scores_csv
from squid_core.exports.dicom_export import (
    save_datasets,
    score_report,
    secondary_capture,
)

__all__ = [
    "CSV_COLUMNS",
    "IDENTIFYING_KEYWORDS",
    "anonymise_dataset",
    "save_datasets",
    "score_report",
    "secondary_capture",
    "summary_cells",
    "write_scores_csv",
]
