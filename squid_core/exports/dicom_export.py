"""DICOM exports with highdicom: the heatmap overlay as Secondary Capture, the score as SR.

* :func:`secondary_capture` - an RGB Secondary Capture Image of what the viewer shows
  (the original with the heatmap over it), in the source study when the source is DICOM,
  in a new study otherwise.
* :func:`score_report` - a Comprehensive SR of a `ResultSummary` (the summary every
  surface uses): the anomaly score, the raw discriminator logit, the operating point
  and whether the image is flagged at it, the result status (scored / not-applicable /
  outside, with its reason), the model name and version, and the standing "research
  use only" note. It references the analysed image as evidence, and for a multi-frame
  image the frame that was scored (Referenced Frame Number, 1-based).

:func:`save_datasets` writes them as DICOM files, all or none: each goes to a temporary
file beside its target and is renamed into place only when every one is on disk, so a
full or read-only disk leaves earlier files of those names as they were and raises
:class:`~squid_core.atomic_file.FileWriteError` naming the file and the reason.

Codes private to this software use the coding scheme designator ``99SQUID`` (PS3.16
reserves "99" prefixes for private schemes). With ``anonymise=True`` the source
header is de-identified (:func:`squid_core.exports.anonymise.anonymise_dataset`)
before anything is copied from it.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import warnings
from collections.abc import Mapping
from typing import Any

import highdicom as hd
import numpy as np
from highdicom.sr import (
    CodeContentItem,
    CodedConcept,
    ComprehensiveSR,
    ContainerContentItem,
    ImageContentItem,
    NumContentItem,
    RelationshipTypeValues,
    TextContentItem,
)
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from squid_core.atomic_file import write_files_atomically
from squid_core.exports.anonymise import anonymise_dataset
from squid_core.scoring.summary import ResultSummary
from squid_core.version import __version__

MANUFACTURER = "SQUID Viewer"
RESEARCH_NOTE = "Research use only - decision support, not a diagnosis."
SCHEME = "99SQUID"

CODE_REPORT = CodedConcept("18748-4", "LN", "Diagnostic imaging report")
CODE_ALGORITHM_NAME = CodedConcept("111001", "DCM", "Algorithm Name")
CODE_ALGORITHM_VERSION = CodedConcept("111003", "DCM", "Algorithm Version")
CODE_SOURCE = CodedConcept("260753009", "SCT", "Source")
CODE_COMMENT = CodedConcept("121106", "DCM", "Comment")
CODE_SCORE = CodedConcept("SQ0001", SCHEME, "SQUID anomaly score")
CODE_LOGIT = CodedConcept("SQ0002", SCHEME, "SQUID discriminator logit")
CODE_OPERATING_POINT = CodedConcept("SQ0003", SCHEME, "Operating point")
CODE_FLAGGED = CodedConcept("SQ0004", SCHEME, "Flagged at operating point")
CODE_DEVICE = CodedConcept("SQ0005", SCHEME, "Compute device")
CODE_STATUS = CodedConcept("SQ0006", SCHEME, "Result status")
CODE_YES = CodedConcept("373066001", "SCT", "Yes")
CODE_NO = CodedConcept("373067005", "SCT", "No")
UNIT_SCORE = CodedConcept("{score}", "UCUM", "score")
UNIT_ONE = CodedConcept("1", "UCUM", "no units")

#: Series numbers of the exports, high so they sort after the acquisition's series.
SC_SERIES_NUMBER = 9901
SR_SERIES_NUMBER = 9902


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr * 255.0 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])


def _source(header: Any, anonymise: bool) -> Dataset | None:
    if header is None:
        return None
    return anonymise_dataset(header) if anonymise else header


def _stamp(ds: Dataset, description: str) -> Dataset:
    now = _dt.datetime.now()
    ds.SeriesDescription = description
    ds.SoftwareVersions = f"SQUID Viewer {__version__}"
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    return ds


def secondary_capture(image: np.ndarray, header: Any = None, *, anonymise: bool = False,
                      description: str = "SQUID heatmap overlay (research use only)",
                      pixel_spacing: tuple[float, float] | None = None) -> Dataset:
    """An RGB Secondary Capture of ``image`` (H, W, 3 uint8, or grey/float in [0, 1]).

    With a DICOM ``header`` (the analysed image's, without pixel data) the SC joins
    that patient and study (de-identified first with ``anonymise``); without one it
    starts a new study with empty patient data.
    """
    rgb = _as_rgb_uint8(image)
    src = _source(header, anonymise)
    common: dict[str, Any] = {
        "pixel_array": rgb,
        "photometric_interpretation": "RGB",
        "bits_allocated": 8,
        "coordinate_system": "PATIENT",
        "series_instance_uid": generate_uid(),
        "series_number": SC_SERIES_NUMBER,
        "sop_instance_uid": generate_uid(),
        "instance_number": 1,
        "manufacturer": MANUFACTURER,
        "patient_orientation": ("L", "F"),
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
    }
    if pixel_spacing is not None:
        common["pixel_spacing"] = tuple(float(s) for s in pixel_spacing)
    with warnings.catch_warnings():
        # highdicom warns about single-component person names, common in real files.
        warnings.filterwarnings("ignore", message=".*person name.*", category=UserWarning)
        sc = _make_sc(src, common)
    if anonymise:
        sc = anonymise_output(sc)
    return _stamp(sc, description)


def _make_sc(src: Dataset | None, common: dict[str, Any]) -> Dataset:
    sc = None
    if src is not None and "StudyInstanceUID" in src:
        try:
            sc = hd.sc.SCImage.from_ref_dataset(src, **common)
        except (AttributeError, KeyError, TypeError, ValueError):
            sc = None  # a sparse header: fall back to copying what is there
    if sc is None:
        get = (lambda k: str(src.get(k, "") or "")) if src is not None else (lambda k: "")
        sc = hd.sc.SCImage(
            study_instance_uid=get("StudyInstanceUID") or generate_uid(),
            patient_id=get("PatientID"), patient_name=get("PatientName"),
            patient_birth_date=get("PatientBirthDate") or None,
            patient_sex=get("PatientSex") or None,
            accession_number=get("AccessionNumber") or None,
            study_id=get("StudyID") or None,
            study_date=get("StudyDate") or None, study_time=get("StudyTime") or None,
            referring_physician_name=get("ReferringPhysicianName") or None,
            **common)
    return sc


def anonymise_output(ds: Dataset) -> Dataset:
    """Empty/remove identifying attributes of a generated object, keeping its UIDs."""
    from squid_core.exports.anonymise import remove_identity

    remove_identity(ds)
    ds.PatientIdentityRemoved = "YES"
    return ds


def _flag_item(record: ResultSummary) -> Any:
    """Yes / No at the operating point; a result that needs review (not applicable,
    outside the training data) is never "No": the item says so in words, as the CSVs do."""
    contains = RelationshipTypeValues.CONTAINS
    if record.needs_review:
        return TextContentItem(CODE_FLAGGED, f"review: {record.verdict}",
                               relationship_type=contains)
    if record.flagged is None:
        return TextContentItem(CODE_FLAGGED, "not applicable: no operating point",
                               relationship_type=contains)
    return CodeContentItem(CODE_FLAGGED, CODE_YES if record.flagged else CODE_NO,
                           relationship_type=contains)


def _frames_of(ds: Dataset) -> int:
    try:
        return int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return 1


def score_report(record: ResultSummary, evidence: Dataset, *,
                 anonymise: bool = False) -> Dataset:
    """A Comprehensive SR stating the summary ``record`` about the image ``evidence``.

    ``evidence`` is the analysed image's header (DICOM source) or, for a PNG/JPEG
    source, a Secondary Capture of it (see :func:`secondary_capture`). Patient and
    study come from the evidence (de-identified first with ``anonymise``). A multi-frame
    evidence is referenced with the frame that was scored (``record.frame``).
    """
    if record.score is None or record.raw_logit is None:
        raise ValueError("nothing to report: the image was not scored")
    ev = anonymise_dataset(evidence) if anonymise else evidence
    frames = ([record.frame + 1] if _frames_of(ev) > 1 else None)
    contains = RelationshipTypeValues.CONTAINS
    if record.operating_point is not None:
        op_text = (f"{record.operating_point.name}: flagged if score >= "
                   f"{float(record.operating_point.threshold):.1f}")
    else:
        op_text = "none set for this model"
    root = ContainerContentItem(CODE_REPORT)
    root.ContentSequence = [
        TextContentItem(CODE_ALGORITHM_NAME, record.model_name or "unnamed model",
                        relationship_type=contains),
        TextContentItem(CODE_ALGORITHM_VERSION, record.model_version or "unknown",
                        relationship_type=contains),
        NumContentItem(CODE_SCORE, float(record.score), UNIT_SCORE, relationship_type=contains),
        NumContentItem(CODE_LOGIT, float(record.raw_logit), UNIT_ONE, relationship_type=contains),
        TextContentItem(CODE_OPERATING_POINT, op_text, relationship_type=contains),
        _flag_item(record),
        TextContentItem(CODE_STATUS, record.status_text[:1024], relationship_type=contains),
        TextContentItem(CODE_DEVICE, record.device or "unknown", relationship_type=contains),
        ImageContentItem(CODE_SOURCE, referenced_sop_class_uid=ev.SOPClassUID,
                         referenced_sop_instance_uid=ev.SOPInstanceUID,
                         referenced_frame_numbers=frames, relationship_type=contains),
        TextContentItem(CODE_COMMENT, RESEARCH_NOTE, relationship_type=contains),
    ]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*person name.*", category=UserWarning)
        sr = ComprehensiveSR(
            evidence=[ev],
            content=root,
            series_instance_uid=generate_uid(),
            series_number=SR_SERIES_NUMBER,
            sop_instance_uid=generate_uid(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
        )
    if anonymise:
        sr = anonymise_output(sr)
    sr = _stamp(sr, "SQUID anomaly score (research use only)")
    sr.ContentDate = record.analysed_at.strftime("%Y%m%d")
    sr.ContentTime = record.analysed_at.strftime("%H%M%S")
    return sr


def dataset_bytes(ds: Dataset) -> bytes:
    """``ds`` encoded as a DICOM file (PS3.10: preamble, "DICM", file meta)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def save_datasets(files: Mapping[str | os.PathLike[str], Dataset],
                  what: str = "DICOM export") -> None:
    """Write each dataset of ``files`` (path -> dataset) as a DICOM file, all or none.

    Raises :class:`~squid_core.atomic_file.FileWriteError` (an OSError) when a file
    cannot be written; then no target has changed and no temporary file is left.
    """
    write_files_atomically({path: dataset_bytes(ds) for path, ds in files.items()}, what)
