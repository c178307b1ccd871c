"""Image I/O: DICOM, PNG, JPEG and TIFF to display-ready pixels, and the study scan.

No Qt here. The contract is in ``docs/architecture.md`` ("image I/O")::

    from squid_core.io import read_image, scan, ImageReadError

    img = read_image("chest.dcm")      # ImageData: .pixels float32 [0, 1], .values, .meta, .header
    result = scan(["/studies"])        # ScanResult: .patients tree, .instances, .rejected
    files = find_image_files(["/studies"])  # the candidate files scan, training and score use

Every unreadable input raises :class:`ImageReadError` with a message for the user.
"""

from __future__ import annotations

from squid_core.io.errors import ImageReadError
from squid_core.io.file_finder import find_image_files
from squid_core.io.image_data import ImageData, ImageMetadata, WindowPreset
from squid_core.io.reader import read_image
from squid_core.io.study_scan import (
    InstanceRef,
    PatientNode,
    RejectedFile,
    ScanResult,
    SeriesNode,
    StudyNode,
    scan,
)

__all__ = [
    "ImageData",
    "ImageMetadata",
    "ImageReadError",
    "InstanceRef",
    "PatientNode",
    "RejectedFile",
    "ScanResult",
    "SeriesNode",
    "StudyNode",
    "WindowPreset",
    "find_image_files",
    "read_image",
    "scan",
]
