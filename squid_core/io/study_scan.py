"""``scan(paths)``: find images in files, folders and DICOMDIRs, grouped for the study browser.

Only headers are read: DICOM files are parsed with ``stop_before_pixels=True``
and raster files with Pillow's lazy open, so scanning thousands of files costs
a few kilobytes of I/O each. The result is a tree

    PatientNode -> StudyNode -> SeriesNode -> InstanceRef

with files that are not images, or cannot be read, listed as
:class:`RejectedFile` with the reason a user would be shown. PNG / JPEG / TIFF
files carry no patient or study, so each folder of them becomes one patient
with one study and one series (named after the folder). Ordering is
deterministic: patients by name and ID, studies by date, time and UID, series
by number and UID, instances by instance number then path.

The files looked at are those :func:`squid_core.io.file_finder.find_image_files`
finds (the one finder training, calibration and ``squid score`` use too: hidden
files skipped, linked folders followed once, documents left out). A DICOMDIR
adds the files it references (even in folders not otherwise scanned) and is
not itself listed; a file reached twice is scanned once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squid_core.io.dicom_io import (
    DICOMDIR_SOP_CLASS,
    check_not_cut_off,
    metadata_from_dataset,
    quiet_pydicom,
    read_dicom_header,
    refuse_non_image,
)
from squid_core.io.errors import ImageReadError
from squid_core.io.file_finder import find_image_files
from squid_core.io.guards import DEFAULT_MAX_PIXELS, check_declared_size
from squid_core.io.image_data import ImageMetadata
from squid_core.io.raster_io import raster_metadata
from squid_core.io.reader import detect_format, read_head

#: ``progress(done, total, path)``; returning False (not None) cancels the scan.
ProgressCallback = Callable[[int, int, Path], Any]


@dataclass
class InstanceRef:
    """One image file found by the scan (pixels not read).

    Attributes:
        path: the file.
        meta: its :class:`ImageMetadata` from the header.
        frames: number of frames.
    """

    path: Path
    meta: ImageMetadata
    frames: int = 1


@dataclass
class SeriesNode:
    """A series: DICOM Series Instance UID, or one folder of raster images."""

    series_uid: str
    series_number: int | None = None
    modality: str = ""
    body_part: str = ""
    description: str = ""
    instances: list[InstanceRef] = field(default_factory=list)


@dataclass
class StudyNode:
    """A study: DICOM Study Instance UID, or one folder of raster images."""

    study_uid: str
    study_date: str = ""
    study_time: str = ""
    description: str = ""
    accession_number: str = ""
    series: list[SeriesNode] = field(default_factory=list)


@dataclass
class PatientNode:
    """A patient: DICOM Patient ID and Name, or one folder of raster images."""

    patient_id: str
    patient_name: str = ""
    birth_date: str = ""
    studies: list[StudyNode] = field(default_factory=list)


@dataclass(frozen=True)
class RejectedFile:
    """A file the scan could not use, and why (the text shown to the user)."""

    path: Path
    reason: str


@dataclass
class ScanResult:
    """What :func:`scan` found.

    Attributes:
        patients: the tree, deterministically ordered.
        rejected: files that are not images or could not be read, by path.
        cancelled: True when the progress callback stopped the scan early.
    """

    patients: list[PatientNode] = field(default_factory=list)
    rejected: list[RejectedFile] = field(default_factory=list)
    cancelled: bool = False

    @property
    def instances(self) -> list[InstanceRef]:
        """All instances, flat, in tree order."""
        return [
            inst
            for patient in self.patients
            for study in patient.studies
            for series in study.series
            for inst in series.instances
        ]


def dicomdir_references(ds: Any, dicomdir: Path) -> list[Path]:
    """Files referenced by the records of a DICOMDIR data set (Referenced File ID)."""
    files: list[Path] = []
    for record in ds.get("DirectoryRecordSequence", []) or []:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [file_id] if isinstance(file_id, str) else [str(p) for p in file_id]
        parts = [p.strip() for p in parts if p and p.strip() not in ("", ".", "..")]
        if parts:
            files.append(dicomdir.parent.joinpath(*parts))
    return files


def _reason(exc: BaseException) -> str:
    """The user-facing reason of a failure (without the file name)."""
    if isinstance(exc, ImageReadError):
        return exc.reason
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"cannot read the file ({type(exc).__name__}{': ' + text if text else ''})"


def _read_header(path: Path, max_pixels: int) -> tuple[ImageMetadata | None, list[Path]]:
    """Metadata of one file, or (None, referenced files) for a DICOMDIR.

    Raises:
        ImageReadError: the file is not an image or cannot be read.
    """
    head = read_head(path)
    if not head:
        raise ImageReadError("file is empty", path)
    fmt = detect_format(head)
    if fmt in ("DICOM", "DICOM-raw"):
        with quiet_pydicom():
            return _dicom_header_meta(path, fmt == "DICOM-raw", max_pixels)
    if fmt in ("PNG", "JPEG", "TIFF"):
        return raster_metadata(path, max_pixels=max_pixels), []
    raise ImageReadError("not an image: unrecognised file format", path)


def _dicom_header_meta(
    path: Path, force: bool, max_pixels: int
) -> tuple[ImageMetadata | None, list[Path]]:
    """The DICOM branch of :func:`_read_header`: metadata, or a DICOMDIR's references."""
    ds = read_dicom_header(path, force=force)
    check_not_cut_off(ds, path)
    sop = str(
        ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")
    )
    if sop == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        return None, dicomdir_references(ds, path)
    refuse_non_image(ds, path)
    meta = metadata_from_dataset(ds)
    try:
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (TypeError, ValueError):
        samples = 1
    check_declared_size(
        meta.rows, meta.columns, meta.frames, samples, max_pixels=max_pixels, path=path
    )
    return meta, []


def _sort_key_number(value: int | None) -> tuple[int, int]:
    """Numbers first in order, missing numbers last."""
    return (0, value) if value is not None else (1, 0)


def _build_tree(found: list[InstanceRef]) -> list[PatientNode]:
    """Group instances into the patient / study / series tree and order it."""
    patients: dict[tuple, PatientNode] = {}
    studies: dict[tuple, StudyNode] = {}
    series_map: dict[tuple, SeriesNode] = {}
    for inst in found:
        m = inst.meta
        if m.is_dicom:
            pkey: tuple = ("dicom", m.patient_id, m.patient_name)
            skey: tuple = (*pkey, m.study_uid or f"(no study UID) {inst.path.parent}")
            rkey: tuple = (*skey, m.series_uid or f"(no series UID) {inst.path.parent}")
            patient_args = {
                "patient_id": m.patient_id,
                "patient_name": m.patient_name,
                "birth_date": m.patient_birth_date,
            }
            study_args = {
                "study_uid": m.study_uid,
                "study_date": m.study_date,
                "study_time": m.study_time,
                "description": m.study_description,
                "accession_number": m.accession_number,
            }
            series_args = {
                "series_uid": m.series_uid,
                "series_number": m.series_number,
                "modality": m.modality,
                "body_part": m.body_part,
                "description": m.series_description,
            }
        else:
            folder = inst.path.parent
            pkey = ("folder", str(folder))
            skey = rkey = pkey
            patient_args = {"patient_id": "", "patient_name": folder.name or str(folder)}
            study_args = {"study_uid": "", "description": str(folder)}
            series_args = {"series_uid": "", "description": folder.name or str(folder)}
        if pkey not in patients:
            patients[pkey] = PatientNode(**patient_args)
        if skey not in studies:
            studies[skey] = StudyNode(**study_args)
            patients[pkey].studies.append(studies[skey])
        if rkey not in series_map:
            series_map[rkey] = SeriesNode(**series_args)
            studies[skey].series.append(series_map[rkey])
        series_map[rkey].instances.append(inst)

    for series in series_map.values():
        series.instances.sort(key=lambda i: (_sort_key_number(i.meta.instance_number), str(i.path)))
    for study in studies.values():
        study.series.sort(
            key=lambda s: (
                _sort_key_number(s.series_number),
                s.series_uid,
                str(s.instances[0].path),
            )
        )
    for patient in patients.values():
        patient.studies.sort(
            key=lambda s: (
                s.study_date or "~",
                s.study_time,
                s.study_uid,
                str(s.series[0].instances[0].path),
            )
        )
    return sorted(
        patients.values(),
        key=lambda p: (p.patient_name, p.patient_id, str(p.studies[0].series[0].instances[0].path)),
    )


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    progress: ProgressCallback | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ScanResult:
    """Scan files, folders (recursively) and DICOMDIRs for images, reading headers only.

    Args:
        paths: one path or several; folders are searched by ``find_image_files``.
        progress: called as ``progress(done, total, path)`` after each file;
            ``total`` can grow as DICOMDIRs add files. Returning False cancels.
        max_pixels: files declaring more samples are rejected as too large.

    Returns:
        ScanResult with the patient tree and the rejected files. Never raises
        for bad input: every problem becomes a :class:`RejectedFile`.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    queue: list[Path] = find_image_files(paths)
    rejected: list[RejectedFile] = []

    seen: set[str] = set()
    found: list[InstanceRef] = []
    cancelled = False
    index = 0
    while index < len(queue):
        path = queue[index]
        index += 1
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        try:
            meta, referenced = _read_header(path, max_pixels)
            if meta is None:  # a DICOMDIR: scan what it lists
                for ref in referenced:
                    if not ref.exists():
                        rejected.append(RejectedFile(ref, "listed in the DICOMDIR but missing"))
                    elif os.path.realpath(ref) not in seen:
                        queue.append(ref)
            else:
                found.append(InstanceRef(path=path, meta=meta, frames=meta.frames))
        except Exception as exc:  # every failure becomes a rejected file
            rejected.append(RejectedFile(path, _reason(exc)))
        if progress is not None and progress(index, len(queue), path) is False:
            cancelled = True
            break

    rejected.sort(key=lambda r: str(r.path))
    return ScanResult(patients=_build_tree(found), rejected=rejected, cancelled=cancelled)
