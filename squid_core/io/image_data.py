"""What a reader returns: display pixels, stored values, metadata and header.

See the "image I/O" contract in ``docs/architecture.md``. ``pixels`` is what the
user sees and what the model scores (float32 in [0, 1], VOI LUT and polarity
applied, air dark); ``values`` holds the stored values after the Modality LUT
(for a pixel read-out in physical units); ``meta`` the facts the viewer and the
study browser show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WindowPreset:
    """A window stored in the file, in the units of ``ImageData.values``.

    Attributes:
        center: Window Center.
        width: Window Width (> 0).
        name: the Window Center & Width Explanation, or "" when absent.
        function: the VOI LUT Function ("LINEAR", "LINEAR_EXACT" or "SIGMOID").
    """

    center: float
    width: float
    name: str = ""
    function: str = "LINEAR"


@dataclass
class ImageMetadata:
    """Facts about an image, from the DICOM header or the raster file.

    DICOM strings are given as plain ``str`` ("" when absent); ``pixel_spacing_mm``
    is (row spacing, column spacing) in mm, and ``spacing_source`` records which
    attribute it came from: "PixelSpacing" (calibrated at the patient) or
    "ImagerPixelSpacing" (at the detector, so magnified by the source geometry).
    """

    modality: str = ""
    body_part: str = ""
    view_position: str = ""
    photometric: str = ""
    pixel_spacing_mm: tuple[float, float] | None = None
    spacing_source: str | None = None
    windows: list[WindowPreset] = field(default_factory=list)
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    series_description: str = ""
    instance_number: int | None = None
    rows: int = 0
    columns: int = 0
    frames: int = 1
    bits_stored: int = 0
    transfer_syntax: str = ""
    is_dicom: bool = False
    series_number: int | None = None
    study_time: str = ""
    accession_number: str = ""
    #: True when the pixels carry real colour (colour DICOM, or a colour raster file whose
    #: channels really differ; a grey picture saved as RGB is not colour).
    colour: bool = False


@dataclass
class ImageData:
    """An image ready to display and to score.

    Attributes:
        pixels: float32 in [0, 1], shape (H, W) or (F, H, W), display space.
        values: float32, same shape, stored values after the Modality LUT.
        meta: the :class:`ImageMetadata`.
        header: the pydicom ``Dataset`` without its pixel data (DICOM), else None.
        path: the file read.
    """

    pixels: np.ndarray
    values: np.ndarray
    meta: ImageMetadata
    header: Any
    path: Path

    @property
    def n_frames(self) -> int:
        """The number of frames (1 for a single-frame image)."""
        return int(self.pixels.shape[0]) if self.pixels.ndim == 3 else 1

    def frame(self, index: int = 0) -> np.ndarray:
        """Display pixels of frame ``index`` (0-based), (H, W) float32 in [0, 1].

        Which frame is *scored* is decided by `squid_core.scoring.analysis.scoring_frame`.
        """
        n = self.n_frames
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range (the image has {n} "
                             f"frame{'s' if n != 1 else ''})")
        return self.pixels if self.pixels.ndim == 2 else self.pixels[index]
