"""DICOM reading with pydicom 3 and its pylibjpeg / pyjpegls / Pillow plugins.

:func:`read_dicom` decodes one file into :class:`ImageData` through the
display pipeline of :mod:`squid_core.io.display_pipeline`;
:func:`read_dicom_header` and :func:`metadata_from_dataset` serve the study
scan, which never touches the pixel data. Every failure becomes an
:class:`ImageReadError` whose message says what is wrong and, where the user
can fix it, how (a missing decoder package).
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.multival import MultiValue

from squid_core.io import display_pipeline as dp
from squid_core.io.errors import ImageReadError
from squid_core.io.guards import DEFAULT_MAX_PIXELS, check_compression_ratio, check_declared_size
from squid_core.io.image_data import ImageData, ImageMetadata

#: Media Storage Directory (DICOMDIR) SOP Class.
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: Which package decodes which family of transfer syntaxes (for "decoder missing" messages).
_DECODER_HINTS = {
    "1.2.840.10008.1.2.4.90": ("JPEG 2000", "pylibjpeg-openjpeg"),
    "1.2.840.10008.1.2.4.91": ("JPEG 2000", "pylibjpeg-openjpeg"),
    "1.2.840.10008.1.2.4.201": ("HTJ2K", "pylibjpeg-openjpeg"),
    "1.2.840.10008.1.2.4.202": ("HTJ2K", "pylibjpeg-openjpeg"),
    "1.2.840.10008.1.2.4.203": ("HTJ2K", "pylibjpeg-openjpeg"),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS", "pyjpegls"),
    "1.2.840.10008.1.2.4.81": ("JPEG-LS", "pyjpegls"),
    "1.2.840.10008.1.2.4.50": ("JPEG", "pylibjpeg-libjpeg"),
    "1.2.840.10008.1.2.4.51": ("12-bit JPEG", "pylibjpeg-libjpeg"),
    "1.2.840.10008.1.2.4.57": ("lossless JPEG", "pylibjpeg-libjpeg"),
    "1.2.840.10008.1.2.4.70": ("lossless JPEG", "pylibjpeg-libjpeg"),
    "1.2.840.10008.1.2.5": ("RLE", "pylibjpeg-rle"),
}


# ----------------------------------------------------------------------------- detection


def has_dicom_preamble(head: bytes) -> bool:
    """Whether the first bytes of a file carry the "DICM" prefix after the 128-byte preamble."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def looks_like_raw_dicom(head: bytes) -> bool:
    """Whether a file without preamble plausibly starts with a DICOM data set.

    Old files (ACR-NEMA style, or written without Part 10 meta) start with an
    element of group 0x0002 or 0x0008 whose element number is small. Checking
    this keeps arbitrary binary files away from pydicom's forced parsing.
    """
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group in (0x0002, 0x0008) and element < 0x0100:
            return True
    return False


def sop_class_name(uid: str) -> str:
    """A short name for a SOP Class UID: "RT Plan" for RT Plan Storage, else the UID."""
    from pydicom.uid import UID

    if not uid:
        return "unknown object (no SOP Class UID)"
    name = UID(str(uid)).name
    if not name or name == str(uid):
        return f"SOP class {uid}"
    if name.endswith(" Storage"):
        name = name[: -len(" Storage")]
    return name


# ----------------------------------------------------------------------------- header


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's value-validation warnings (e.g. an over-long SH) while reading.

    Real archives are full of such small deviations; they do not stop the image
    from being shown and would only flood the log.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
        yield


def _open_error(exc: BaseException, path: Path) -> ImageReadError:
    """Map an exception raised while parsing a DICOM file to a user-facing error."""
    from pydicom.errors import InvalidDicomError

    if isinstance(exc, ImageReadError):
        return exc
    if isinstance(exc, InvalidDicomError):
        return ImageReadError("not a DICOM file or an image this program can read", path)
    if isinstance(exc, (EOFError, struct.error)):
        return ImageReadError("file is truncated (the DICOM header ends early)", path)
    if isinstance(exc, MemoryError):
        return ImageReadError(
            "image too large: the DICOM header declares an enormous element", path
        )
    if isinstance(exc, OSError):
        return ImageReadError(f"cannot read the file: {exc.strerror or exc}", path)
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return ImageReadError(f"damaged DICOM file: {detail}", path)


def read_dicom_header(path: str | Path, *, force: bool = False) -> Any:
    """Parse a DICOM file up to (not including) its pixel data.

    Args:
        path: the file.
        force: parse a file without the Part 10 preamble (see :func:`looks_like_raw_dicom`).

    Raises:
        ImageReadError: the file is not DICOM, is truncated in its header, or cannot be read.
    """
    import pydicom

    path = Path(path)
    try:
        with quiet_pydicom():
            return pydicom.dcmread(path, stop_before_pixels=True, force=force)
    except Exception as exc:  # every parse failure becomes an ImageReadError
        raise _open_error(exc, path) from None


def _str(ds: Any, keyword: str) -> str:
    """A string attribute of ``ds`` ("" when absent or empty), first value of a multi-value."""
    try:
        value = ds.get(keyword)
    except Exception:  # a damaged element must not spoil the whole header
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else ""
    return str(value).strip()


def _int(ds: Any, keyword: str, default: int | None = None) -> int | None:
    """An integer attribute of ``ds``, or ``default`` when absent or not an integer."""
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return default
        return int(value)
    except Exception:  # e.g. IS with garbage, or a damaged element
        return default


def pixel_spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None]:
    """(row, column) spacing in mm and the attribute it came from, or (None, None).

    Pixel Spacing (calibrated to the patient, also in the Pixel Measures
    functional group of enhanced objects) is preferred over Imager Pixel
    Spacing (at the detector plane).
    """
    candidates: list[tuple[Any, str]] = [(ds.get("PixelSpacing"), "PixelSpacing")]
    item = dp.functional_group_item(ds, "PixelMeasuresSequence")
    if item is not None:
        candidates.append((item.get("PixelSpacing"), "PixelSpacing"))
    candidates.append((ds.get("ImagerPixelSpacing"), "ImagerPixelSpacing"))
    for value, source in candidates:
        try:
            if value is None or len(value) < 2:
                continue
            row, col = float(value[0]), float(value[1])
        except Exception:  # malformed DS: try the next source
            continue
        if np.isfinite(row) and np.isfinite(col) and row > 0 and col > 0:
            return (row, col), source
    return None, None


def transfer_syntax(ds: Any) -> str:
    """The transfer syntax UID of ``ds`` (from the file meta or the encoding it was read with)."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return str(uid)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return ""
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def metadata_from_dataset(ds: Any) -> ImageMetadata:
    """The :class:`ImageMetadata` of a DICOM data set (header only; tolerant of damage)."""
    spacing, source = pixel_spacing(ds)
    try:
        windows = dp.window_presets(ds)
    except Exception:  # damaged window attributes: show none
        windows = []
    view = _str(ds, "ViewPosition")
    if not view:
        view = _str(ds, "PatientOrientation")
    return ImageMetadata(
        modality=_str(ds, "Modality"),
        body_part=_str(ds, "BodyPartExamined"),
        view_position=view,
        photometric=_str(ds, "PhotometricInterpretation"),
        pixel_spacing_mm=spacing,
        spacing_source=source,
        windows=windows,
        patient_name=_str(ds, "PatientName"),
        patient_id=_str(ds, "PatientID"),
        patient_birth_date=_str(ds, "PatientBirthDate"),
        study_uid=_str(ds, "StudyInstanceUID"),
        series_uid=_str(ds, "SeriesInstanceUID"),
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        sop_class_uid=_str(ds, "SOPClassUID")
        or _str(getattr(ds, "file_meta", {}), "MediaStorageSOPClassUID"),
        study_date=_str(ds, "StudyDate"),
        study_description=_str(ds, "StudyDescription"),
        series_description=_str(ds, "SeriesDescription"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows", 0) or 0,
        columns=_int(ds, "Columns", 0) or 0,
        frames=max(1, _int(ds, "NumberOfFrames", 1) or 1),
        bits_stored=_int(ds, "BitsStored", 0) or 0,
        transfer_syntax=transfer_syntax(ds),
        is_dicom=True,
        series_number=_int(ds, "SeriesNumber"),
        study_time=_str(ds, "StudyTime"),
        accession_number=_str(ds, "AccessionNumber"),
        colour=(_int(ds, "SamplesPerPixel", 1) or 1) > 1
        or _str(ds, "PhotometricInterpretation").upper() == "PALETTE COLOR",
    )


def check_not_cut_off(ds: Any, path: Path) -> None:
    """Raise "file is truncated" when the last element read is shorter than its declared length.

    pydicom stops quietly at the end of a cut-off file and keeps the partial
    value of the last element; its raw form still carries the declared length.
    """
    try:
        last = next(reversed(list(ds.keys())), None)
        if last is None:
            return
        raw = ds.get_item(last)
    except Exception:  # nothing to learn from a data set that cannot even be listed
        return
    length, value = getattr(raw, "length", None), getattr(raw, "value", None)
    if (
        isinstance(length, int)
        and length != 0xFFFFFFFF
        and isinstance(value, (bytes, bytearray))
        and len(value) < length
    ):
        raise ImageReadError(
            f"file is truncated: element {last} holds {len(value)} of {length} bytes", path
        )


def refuse_non_image(ds: Any, path: Path, *, has_pixels: bool | None = None) -> None:
    """Raise "not an image: <SOP class>" for objects without an image.

    ``has_pixels`` tells whether the pixel data element is present (None when
    the header was read without it, as in the study scan, where the Image
    Pixel module's Rows and Columns stand in for it). A file that declares
    rows and columns but lacks the pixel data is reported as truncated.
    """
    sop = _str(ds, "SOPClassUID") or _str(getattr(ds, "file_meta", {}), "MediaStorageSOPClassUID")
    if sop == DICOMDIR_SOP_CLASS:
        raise ImageReadError("not an image: a DICOMDIR (open its folder to see the studies)", path)
    has_geometry = "Rows" in ds and "Columns" in ds
    if has_pixels is None:
        has_pixels = has_geometry
    if has_pixels and has_geometry:
        return
    if has_geometry:
        raise ImageReadError(
            "file is truncated: the image header is there but the pixel data is missing", path
        )
    name = sop_class_name(sop)
    if "Image" in name:  # an image object stripped of its pixels (a header-only copy)
        raise ImageReadError(f"no pixel data: this {name} file holds only its header", path)
    raise ImageReadError(f"not an image: {name}", path)


# ----------------------------------------------------------------------------- pixels


def _decoder_check(ds: Any, tsyntax: str, path: Path) -> None:
    """Raise a clear error when no installed plugin can decode ``tsyntax``."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(tsyntax)
    try:
        decoder = get_decoder(uid)
    except (NotImplementedError, ValueError):
        raise ImageReadError(f"unsupported transfer syntax {uid.name} ({tsyntax})", path) from None
    if not decoder.is_available:
        what, package = _DECODER_HINTS.get(tsyntax, (uid.name, "pylibjpeg and its plugins"))
        raise ImageReadError(f"{what} decoder missing: install {package}", path)


def _expected_native_bytes(ds: Any, rows: int, cols: int, frames: int, samples: int) -> int:
    """Bytes that native (uncompressed) pixel data of this geometry must hold."""
    bits = _int(ds, "BitsAllocated", 8) or 8
    if _str(ds, "PhotometricInterpretation") == "YBR_FULL_422":
        samples = 2
    total_bits = rows * cols * frames * samples * bits
    return (total_bits + 7) // 8


def _encoded_length(ds: Any) -> int:
    """Length in bytes of the (possibly encapsulated) pixel data value."""
    for keyword in _PIXEL_KEYWORDS:
        elem = ds.get(keyword)
        if elem is not None:
            try:
                return len(elem)
            except TypeError:
                return 0
    return 0


def check_encapsulation(data: bytes | None, path: Path) -> None:
    """Walk the items of encapsulated pixel data; raise "file is truncated" when one runs past the end.

    pydicom reads a cut-off file without complaint, and some decoders return
    an image from a cut-off stream; the item lengths tell the truth (PS3.5 A.4).
    """
    if not data:
        raise ImageReadError("file is truncated: the compressed pixel data is missing", path)
    item_tag = b"\xfe\xff\x00\xe0"
    offset, size, items = 0, len(data), 0
    while offset + 8 <= size:
        tag = data[offset : offset + 4]
        length = struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        if tag != item_tag:
            break  # a sequence delimiter or padding: nothing more to check
        offset += 8 + length
        items += 1
        if offset > size:
            raise ImageReadError(
                "file is truncated: the compressed pixel data ends inside a fragment", path
            )
    if items < 2:  # a basic offset table item and at least one fragment
        raise ImageReadError("file is truncated: the compressed pixel data has no fragment", path)


def _decode_error(exc: BaseException, tsyntax: str, path: Path) -> ImageReadError:
    """Map a pydicom decoding failure to a user-facing error."""
    from pydicom.uid import UID

    if isinstance(exc, ImageReadError):
        return exc
    if isinstance(exc, MemoryError):
        return ImageReadError("image too large: not enough memory to decode it", path)
    text = str(exc).strip()
    name = UID(tsyntax).name if tsyntax else "unknown transfer syntax"
    if "missing dependencies" in text or "plugins are all missing" in text:
        what, package = _DECODER_HINTS.get(tsyntax, (name, "pylibjpeg and its plugins"))
        return ImageReadError(f"{what} decoder missing: install {package}", path)
    if "less than expected" in text or "truncated" in text.lower():
        return ImageReadError(
            "file is truncated: the pixel data is shorter than the image size", path
        )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = (
        lines[1]
        if len(lines) > 1 and lines[0].endswith(":")
        else (lines[0] if lines else type(exc).__name__)
    )
    uid = UID(tsyntax) if tsyntax else None
    if uid is not None and uid.is_transfer_syntax and uid.is_compressed:
        return ImageReadError(
            f"the compressed image data is damaged ({name}): {detail[:200]}", path
        )
    return ImageReadError(f"cannot decode the pixel data ({name}): {detail[:200]}", path)


def decode_pixels(ds: Any, path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode the pixel data of ``ds`` after the size, syntax and length checks.

    Returns the array of pydicom (YBR converted to RGB), shaped (H, W),
    (H, W, S), (F, H, W) or (F, H, W, S).
    """
    from pydicom.pixels import pixel_array
    from pydicom.uid import UID

    rows, cols = _int(ds, "Rows", 0) or 0, _int(ds, "Columns", 0) or 0
    frames = _int(ds, "NumberOfFrames", 1)
    frames = 1 if frames is None or frames == 0 else frames
    samples = _int(ds, "SamplesPerPixel", 1) or 1
    total = check_declared_size(rows, cols, frames, samples, max_pixels=max_pixels, path=path)
    bits = _int(ds, "BitsAllocated", 0) or 0
    if bits not in (1, 8, 16, 32, 64):
        raise ImageReadError(f"unsupported or damaged Bits Allocated: {bits}", path)

    tsyntax = transfer_syntax(ds)
    if not tsyntax:
        raise ImageReadError("unsupported transfer syntax: none given and none detectable", path)
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        from pydicom.dataset import FileMetaDataset

        if not hasattr(ds, "file_meta") or ds.file_meta is None:
            ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = UID(tsyntax)
    uid = UID(tsyntax)
    if not uid.is_transfer_syntax:
        raise ImageReadError(f"unsupported transfer syntax {uid.name} ({tsyntax})", path)
    if uid.is_compressed:
        _decoder_check(ds, tsyntax, path)
        check_encapsulation(ds.get("PixelData"), path)
        check_compression_ratio(total, max(1, bits // 8), _encoded_length(ds), path=path)
    else:
        expected = _expected_native_bytes(ds, rows, cols, frames, samples)
        if "PixelData" in ds and _encoded_length(ds) < expected:
            raise ImageReadError(
                f"file is truncated: pixel data holds {_encoded_length(ds):,} of "
                f"{expected:,} bytes",
                path,
            )
    try:
        return pixel_array(ds)
    except Exception as exc:  # decoder failures of every kind
        raise _decode_error(exc, tsyntax, path) from None


def dataset_to_image(ds: Any, path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode ``ds`` and run the display pipeline; ``ds`` loses its pixel data (it becomes the header)."""
    check_not_cut_off(ds, path)
    has_pixels = any(k in ds for k in _PIXEL_KEYWORDS)
    refuse_non_image(ds, path, has_pixels=has_pixels)
    meta = metadata_from_dataset(ds)
    arr = decode_pixels(ds, path, max_pixels=max_pixels)
    photometric = meta.photometric.upper()
    samples = _int(ds, "SamplesPerPixel", 1) or 1

    if samples > 1:
        if arr.ndim < 3 or arr.shape[-1] != samples:
            raise ImageReadError(
                f"damaged image attributes: {samples} samples per pixel declared, "
                f"pixel data shaped {arr.shape}",
                path,
            )
        bits = meta.bits_stored or 8 * arr.dtype.itemsize
        full = float(2 ** min(bits, 32) - 1)
        values = dp.rgb_to_grey(arr) if samples >= 3 else arr[..., 0].astype(np.float32)
        pixels = np.clip(values / np.float32(full), 0.0, 1.0)
    elif photometric == "PALETTE COLOR":
        try:
            rgb, full = dp.palette_to_rgb(arr, ds)
            values = dp.rgb_to_grey(rgb)
            pixels = np.clip(values / np.float32(full), 0.0, 1.0)
        except Exception:  # damaged palette: show the indices with a robust window
            values = arr.astype(np.float32)
            pixels = dp.apply_range(values, *dp.percentile_window(values))
    else:
        try:
            values = dp.apply_modality_lut(arr, ds)
            pixels = dp.to_display(values, ds)
        except ImageReadError:
            raise
        except Exception as exc:  # a damaged LUT attribute of a kind not foreseen
            raise ImageReadError(f"damaged display attributes: {str(exc)[:200]}", path) from None

    if values.dtype.kind == "f" and not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        pixels = np.nan_to_num(pixels, nan=0.0)
    for keyword in _PIXEL_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    meta.rows, meta.columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    meta.frames = int(pixels.shape[0]) if pixels.ndim == 3 else 1
    return ImageData(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        values=np.ascontiguousarray(values, dtype=np.float32),
        meta=meta,
        header=ds,
        path=path,
    )


def read_dicom(
    path: str | Path, *, force: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageData:
    """Read a DICOM image file to :class:`ImageData` (see the module docstring).

    Raises:
        ImageReadError: for every kind of unreadable input.
    """
    import pydicom

    path = Path(path)
    with quiet_pydicom():
        try:
            ds = pydicom.dcmread(path, force=force)
        except Exception as exc:  # every parse failure becomes an ImageReadError
            raise _open_error(exc, path) from None
        return dataset_to_image(ds, path, max_pixels=max_pixels)
