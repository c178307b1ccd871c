"""Which patient an image belongs to, so that splits keep each patient on one side.

Two images of one child (a follow-up, a second exposure) are far more alike than
two children: with one in training and the other in validation, validation measures
memory, not generalisation. The patient comes from the DICOM ``PatientID`` when the
file has one, else from the ZhangLab naming scheme, else the file is its own patient:

* ``IM-0115-0001.jpeg``, ``IM-0429-0001-0002.jpeg`` -> ``IM-0115``, ``IM-0429``
* ``NORMAL2-IM-1427-0001.jpeg`` -> ``NORMAL2-IM-1427`` (the second batch numbers its
  own patients)
* ``person1000_bacteria_2931.jpeg``, ``person1000_virus_1681.jpeg``,
  ``person447_virus_921_1.jpeg`` -> ``person1000``, ``person1000``, ``person447``

The ZhangLab names do not link a child's normal images (``IM-*``) to their pneumonia
images (``person*``); the normal and pneumonia sides of a split cannot be checked
against each other. The keys are used for grouping only and are never logged.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["patient_from_name", "patient_key", "dicom_patient_id", "DICOM_SUFFIXES"]

_NORMAL = re.compile(r"^((?:NORMAL\d+-)?IM-\d+)-\d+", re.IGNORECASE)
_PNEUMONIA = re.compile(r"^(person\d+)_(?:bacteria|virus)_\d+", re.IGNORECASE)

#: Suffixes worth asking for a DICOM header (files without a suffix are tried too).
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ""})


def patient_from_name(name: str) -> str | None:
    """The ZhangLab patient in a file name (any folder part is ignored), or None."""
    stem = Path(name).name
    for pattern in (_NORMAL, _PNEUMONIA):
        m = pattern.match(stem)
        if m:
            return m.group(1).upper() if pattern is _NORMAL else m.group(1).lower()
    return None


def patient_key(name: str, patient_id: str | None = None) -> str:
    """Grouping key of one image: ``id:<PatientID>`` when the DICOM header has a
    non-empty one, ``zhanglab:<patient>`` for ZhangLab names, else ``file:<name>``
    (``name`` as given, e.g. a path relative to its folder, so that the key does not
    depend on where the folder is mounted)."""
    if patient_id is not None and patient_id.strip():
        return f"id:{patient_id.strip()}"
    from_name = patient_from_name(name)
    if from_name is not None:
        return f"zhanglab:{from_name}"
    return f"file:{Path(name).as_posix()}"


def dicom_patient_id(path: str | Path) -> str | None:
    """The ``PatientID`` of a DICOM file (header only), or None for any other file or
    an unreadable header."""
    p = Path(path)
    if p.suffix.lower() not in DICOM_SUFFIXES:
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["PatientID"])
    except Exception:  # not DICOM, or broken: the file stands for itself
        return None
    value = ds.get("PatientID")
    return str(value) if value is not None else None
