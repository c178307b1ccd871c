"""Helpers shared by the image I/O tests (paths to test data, simple image checks); no tests here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
DICOM = DATA / "dicom"
IMAGES = DATA / "images"
#: The shared data folder beside the clone (absent on some machines: tests then skip).
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DICOM = SHARED / "data" / "dicom"

#: Files in the DICOM test folders that must raise ImageReadError, with a word the message must hold.
EXPECTED_FAILURES = {
    "966.dcm": "damaged",
    "RG2_JPLY.dcm": "damaged",
    "MR_truncated.dcm": "truncated",
    "rtplan.dcm": "not an image: RT Plan",
    "test-SR.dcm": "not an image: Comprehensive SR",
    "ExplVR_LitEndNoMeta.dcm": "not an image: RT Ion Plan",
}


def lung_vs_mediastinum(pixels: np.ndarray) -> tuple[float, float]:
    """Mean display value of the two lung fields and of the mediastinum of a PA chest.

    A polarity check that ignores collimation at the borders: in a correctly
    displayed chest film the air-filled lungs are darker than the mediastinum
    and spine between them.
    """
    h, w = pixels.shape
    rows = slice(int(0.3 * h), int(0.6 * h))
    mediastinum = float(pixels[int(0.3 * h) : int(0.7 * h), int(0.45 * w) : int(0.55 * w)].mean())
    left = pixels[rows, int(0.2 * w) : int(0.35 * w)].mean()
    right = pixels[rows, int(0.65 * w) : int(0.8 * w)].mean()
    return float((left + right) / 2), mediastinum


def dicom_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` that is not documentation."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() not in (".md", ".tsv", ".txt")
        and "LICENSE" not in p.name
    )
