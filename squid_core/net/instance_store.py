"""Filing instances that arrived over the network: checked first, then written atomically.

What arrives is untrusted. Before a byte is written: the SOP Instance UID must be a
valid UID (it becomes the file name, so nothing like ``../x`` can get through), the
encoded size must be under ``max_bytes``, and the declared image size must pass the
same guard as files (:func:`squid_core.io.guards.check_declared_size`). Pixel data is
not decoded here: the analysis worker does that with the normal reader. Each instance
is written to a temporary file, fsynced and renamed (:func:`squid_core.atomic_file.
atomic_output`), so a crash or a peer that disappears never leaves a half-written
file under its real name; temporary files a killed process left behind are removed
when the store is opened.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from squid_core.atomic_file import atomic_output
from squid_core.io.errors import ImageReadError
from squid_core.io.guards import DEFAULT_MAX_PIXELS, check_declared_size

#: A DICOM UID: digits in dot-separated components, at most 64 characters.
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
#: Default limit on one received instance (encoded bytes).
DEFAULT_MAX_BYTES = 1 << 30


class RefusedInstance(ValueError):
    """An instance refused before filing; ``str(e)`` says why (no patient data)."""


def check_uid(uid: str, what: str = "SOP Instance UID") -> str:
    """``uid`` if it is a valid DICOM UID, else :class:`RefusedInstance`."""
    u = str(uid or "").strip("\0 ")
    if len(u) > 64 or not _UID.match(u):
        raise RefusedInstance(f"invalid {what} (not a DICOM UID)")
    return u


def check_dataset(ds: Dataset, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """The size guard on the image ``ds`` declares (no pixel data is decoded)."""
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        return
    try:
        check_declared_size(int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0),
                            int(ds.get("NumberOfFrames", 1) or 1),
                            int(ds.get("SamplesPerPixel", 1) or 1), max_pixels=max_pixels)
    except ImageReadError as exc:
        raise RefusedInstance(exc.reason) from None
    except (TypeError, ValueError) as exc:
        raise RefusedInstance(f"damaged image attributes ({type(exc).__name__})") from None


class InstanceStore:
    """Received instances as ``<root>/<SOP Instance UID>.dcm``, one file each."""

    def __init__(self, root: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.max_pixels = int(max_pixels)
        for leftover in self.root.glob(".*.tmp"):  # a process killed while writing
            leftover.unlink(missing_ok=True)

    def path_for(self, sop_instance_uid: str) -> Path:
        return self.root / f"{check_uid(sop_instance_uid)}.dcm"

    def uids(self) -> list[str]:
        """The stored instances' UIDs, oldest file first."""
        files = sorted(self.root.glob("*.dcm"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.stem for p in files]

    def put(self, sop_instance_uid: str, encoded: bytes | bytearray | memoryview,
            dataset: Dataset | None = None) -> tuple[Path, bool]:
        """File one encoded instance (a DICOM file: preamble, meta, data set).

        ``dataset`` (the decoded header, when the caller has it) is checked with
        :func:`check_dataset`. Returns (path, True) when filed now, (path, False) when an
        instance of that UID was already stored (it is kept as it is). Raises
        :class:`RefusedInstance` (refused) or OSError (the disk).
        """
        path = self.path_for(sop_instance_uid)
        if len(encoded) > self.max_bytes:
            raise RefusedInstance(f"instance too large: {len(encoded):,} bytes "
                                  f"(limit {self.max_bytes:,})")
        if dataset is not None:
            check_dataset(dataset, max_pixels=self.max_pixels)
        if path.exists():
            return path, False
        with atomic_output(path) as fh:
            fh.write(encoded)
        return path, True

    def put_dataset(self, ds: Dataset) -> tuple[Path, bool]:
        """File a decoded data set (e.g. from WADO-RS), after the same checks."""
        from squid_core.exports.dicom_export import dataset_bytes

        uid = check_uid(ds.get("SOPInstanceUID", ""))
        check_dataset(ds, max_pixels=self.max_pixels)
        return self.put(uid, dataset_bytes(ds))
