"""Texts about the image on screen: the corner caption, the status-bar description and
the study lines of a report. Qt-free formatting of an ``ImageData``'s metadata."""

from __future__ import annotations

from typing import Any


def _who_and_what(meta: Any) -> tuple[list[str], str]:
    who = list(dict.fromkeys(x for x in (meta.patient_name, meta.patient_id) if x))
    what = " ".join(x for x in (meta.study_date, meta.modality, meta.body_part,
                                meta.view_position) if x)
    return who, what


def corner_text(image: Any, frame: int, window: Any) -> str:
    """The caption in the original pane's corner: patient, study, size, frame, window
    (``window``: the ``Window`` in use, or None for the file's own display)."""
    if image is None:
        return ""
    m = image.meta
    lines, study = _who_and_what(m)
    if study:
        lines.append(study)
    lines.append(f"{m.columns or image.pixels.shape[-1]} × {m.rows or image.pixels.shape[-2]}"
                 + (f"  frame {frame + 1}/{image.n_frames}" if image.n_frames > 1 else ""))
    lines.append(f"W {window.width:.5g} L {window.center:.5g} ({window.name})"
                 if window else "File display")
    return "\n".join(lines)


def describe(image: Any) -> str:
    """One line for the status bar: modality, size, photometric, transfer syntax."""
    m = image.meta
    parts = [m.modality or ("DICOM" if m.is_dicom else "image"),
             f"{m.columns}×{m.rows}" if m.rows else "", m.photometric, m.transfer_syntax]
    return ", ".join(p for p in parts if p)


def study_lines(image: Any, anonymise: bool) -> list[str]:
    """Who and what, for a report (none when anonymising)."""
    if image is None or anonymise:
        return []
    who, what = _who_and_what(image.meta)
    return [x for x in (" ".join(who), what) if x]
