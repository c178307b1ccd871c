"""The open studies of a session: what is open, what was rejected, and each image's score.

Pure Python (no Qt): the study browser is a thin widget over a :class:`Catalog` that
follows its events, and the worklist order, the CSV rows and "Analyse all" all come
from here, so they can be tested without a window.

Events (psygnal; emitted on the thread that changed the catalog, which in the viewer is
the GUI thread, see :class:`squid_core.session.Session`):

* ``added(entries, rejected)``   new entries and new rejections (lists)
* ``removed(key, rejected)``     an open entry turned out unreadable: it left the
  entries and joined the rejected (a :class:`Rejected`)
* ``summaries_changed(keys)``    the scores of these entries were set or cleared
* ``cleared()``                  everything was forgotten

An *entry* is one image (one DICOM instance or one raster file). Its key is the file path
as a string; a multi-frame instance is one entry and is scored on the frame on screen
(the first frame for "Analyse all").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psygnal import Signal

from squid_core.exports.csv_export import summary_cells
from squid_core.scoring.summary import ResultSummary


@dataclass
class Entry:
    """One image in the browser, with the study data shown in the tree."""

    path: Path
    patient_name: str = ""
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    series_uid: str = ""
    series_description: str = ""
    modality: str = ""
    body_part: str = ""
    view: str = ""
    instance_number: int | None = None
    frames: int = 1
    is_dicom: bool = False
    summary: ResultSummary | None = None

    @property
    def key(self) -> str:
        """Stable identifier of the entry: its path as a string."""
        return str(self.path)

    @property
    def score(self) -> float | None:
        """The anomaly score 0-100, or None before analysis."""
        return None if self.summary is None else self.summary.score

    @property
    def label(self) -> str:
        """What the tree shows for the image itself."""
        if self.instance_number is not None and self.is_dicom:
            return f"#{self.instance_number}  {self.path.name}"
        return self.path.name

    @classmethod
    def from_meta(cls, path: Any, meta: Any) -> Entry:
        """Build from a path and an ``ImageMetadata`` (or a scan node with the same names).

        Missing attributes become empty strings, so a partial record still lists.
        """

        def text(*names: str) -> str:
            for name in names:
                value = getattr(meta, name, None)
                if value not in (None, ""):
                    return str(value)
            return ""

        instance = getattr(meta, "instance_number", None)
        frames = getattr(meta, "frames", None) or 1
        given = getattr(meta, "path", None) or path
        # A scan gives Path objects: re-parsing 5,000 of them was a fifth of the time a
        # folder took to list (``bench/load_5000.py``).
        path = given if isinstance(given, Path) else Path(given)
        return cls(
            path=path,
            patient_name=text("patient_name"),
            patient_id=text("patient_id"),
            study_uid=text("study_uid", "study_instance_uid"),
            study_date=text("study_date"),
            study_description=text("study_description"),
            series_uid=text("series_uid", "series_instance_uid"),
            series_description=text("series_description"),
            modality=text("modality"),
            body_part=text("body_part", "body_part_examined"),
            view=text("view_position", "view"),
            instance_number=int(instance) if instance not in (None, "") else None,
            frames=int(frames),
            is_dicom=bool(getattr(meta, "is_dicom", path.suffix.lower() in (".dcm", ""))),
        )


@dataclass(frozen=True)
class Rejected:
    """A file that could not be opened, with a reason a user can act on."""

    path: Path
    reason: str


def _group_key(value: str, fallback: str) -> str:
    return value or fallback


@dataclass
class Catalog:
    """Everything opened in this session, in a patient/study/series/image hierarchy."""

    entries: dict[str, Entry] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)

    added = Signal(list, list)
    removed = Signal(str, object)
    summaries_changed = Signal(list)
    cleared = Signal()

    def add(self, entries: Iterable[Entry], rejected: Iterable[Rejected] = ()) -> list[Entry]:
        """Add entries (an already-open path is kept, with its score) and rejections.

        Returns the entries that are new; ``added`` tells subscribers (when anything is).
        """
        new = []
        for e in entries:
            if e.key not in self.entries:
                self.entries[e.key] = e
                new.append(e)
        known = {r.path for r in self.rejected}
        new_rejected = []
        for r in rejected:
            if r.path not in known:
                self.rejected.append(r)
                new_rejected.append(r)
                known.add(r.path)
        if new or new_rejected:
            self.added.emit(new, new_rejected)
        return new

    def reject(self, key: str, reason: str) -> Rejected:
        """``key`` could not be read after all: move it to the rejected (``removed``)."""
        entry = self.entries.pop(key, None)
        rejected = Rejected(entry.path if entry is not None else Path(key), reason)
        if all(r.path != rejected.path for r in self.rejected):
            self.rejected.append(rejected)
        self.removed.emit(key, rejected)
        return rejected

    def clear(self) -> None:
        """Forget everything (File > Close all)."""
        self.entries.clear()
        self.rejected.clear()
        self.cleared.emit()

    def set_summary(self, key: str, summary: ResultSummary | None) -> None:
        """Record (or forget) the score of an entry; unknown keys are ignored."""
        self.set_summaries({key: summary})

    def set_summaries(self, summaries: dict[str, ResultSummary | None]) -> None:
        """Record several scores at once: one ``summaries_changed`` for all of them."""
        keys = [key for key in summaries if key in self.entries]
        for key in keys:
            self.entries[key].summary = summaries[key]
        if keys:
            self.summaries_changed.emit(keys)

    def clear_scores(self) -> None:
        """Forget all scores (another model was loaded: old scores no longer apply)."""
        keys = [k for k, e in self.entries.items() if e.summary is not None]
        for key in keys:
            self.entries[key].summary = None
        if keys:
            self.summaries_changed.emit(keys)

    def hierarchy(self) -> dict[tuple[str, str], dict[str, dict[str, list[Entry]]]]:
        """{(patient id, name): {study: {series: [entries]}}}; files without DICOM data
        are grouped under their folder."""
        tree: dict[tuple[str, str], dict[str, dict[str, list[Entry]]]] = {}
        for e in self.entries.values():
            folder = str(e.path.parent)
            patient = (_group_key(e.patient_id, "" if e.patient_name else folder), e.patient_name)
            study = _group_key(e.study_uid, folder)
            series = _group_key(e.series_uid, folder)
            tree.setdefault(patient, {}).setdefault(study, {}).setdefault(series, []).append(e)
        return tree

    def worklist(self) -> list[Entry]:
        """All entries, most suspicious first: flagged and needs-review images (not
        applicable, outside the training data) by score, then the other scored images by
        score; unanalysed ones follow. None is dropped."""

        def order(e: Entry) -> tuple[int, int, float, str]:
            summary, s = e.summary, e.score
            if summary is None:
                return (2, 0, 0.0, e.key)
            scoreless = s is None or math.isnan(s)
            return (0 if summary.urgent else 1, int(scoreless), 0.0 if scoreless else -s, e.key)

        return sorted(self.entries.values(), key=order)

    def unscored(self) -> list[Entry]:
        """Entries without a score, in worklist order (what "Analyse all" still has to do)."""
        return [e for e in self.worklist() if e.summary is None]


def max_score(entries: Iterable[Entry]) -> float | None:
    """The highest score among ``entries`` (a study is as suspicious as its worst image)."""
    scores = [e.score for e in entries if e.score is not None]
    return max(scores) if scores else None


def csv_rows(catalog: Catalog) -> list[dict[str, object]]:
    """One row per opened image, in worklist order, keyed by
    ``squid_core.exports.CSV_COLUMNS`` (unscored images have empty score cells)."""
    rows: list[dict[str, object]] = []
    for e in catalog.worklist():
        row: dict[str, object] = {
            "file": str(e.path), "patient_id": e.patient_id, "patient_name": e.patient_name,
            "study_date": e.study_date, "modality": e.modality, "body_part": e.body_part,
            "view": e.view,
        }
        if e.summary is not None:
            row.update(summary_cells(e.summary))
        rows.append(row)
    return rows
