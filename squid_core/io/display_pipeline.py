"""The DICOM grey-scale display pipeline, one small function per step.

Applied by :func:`to_display` in the order of DICOM PS3.4 N.2 (grey-scale
pipeline) and ``design/product.md``:

1. decoded stored values (done by the reader);
2. :func:`apply_modality_lut`: Rescale Slope / Intercept, or the Modality LUT
   Sequence; the result is ``ImageData.values``;
3. the VOI LUT: the first window of the file (:func:`apply_window`, with the
   LINEAR, LINEAR_EXACT or SIGMOID function of PS3.3 C.11.2.1.2), or the first
   VOI LUT Sequence item (:func:`apply_lut_item`); when the file has neither, or
   its window does not fit the data (:func:`window_fits`) and it has no VOI
   LUT Sequence, a robust percentile window (:func:`percentile_window`);
4. polarity (:func:`needs_inversion`): MONOCHROME1 and Presentation LUT Shape
   INVERSE both mean "invert the VOI output"; they describe the same inversion,
   so it is applied once (see that function for the standard's wording).

Colour images skip the grey-scale steps: RGB (pydicom converts YBR_* to RGB
when decoding) and PALETTE COLOR (:func:`palette_to_rgb`) become grey with the
ITU-R BT.601 luma weights (:func:`rgb_to_grey`).

All outputs are float32; display pixels lie in [0, 1] with 0 shown black.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.multival import MultiValue

from squid_core.io.image_data import WindowPreset

#: ITU-R BT.601 luma weights for R, G, B.
BT601_LUMA = (0.299, 0.587, 0.114)

#: Percentiles of the robust fallback window.
ROBUST_PERCENTILES = (0.5, 99.5)

#: A stored window is rejected when fewer than this fraction of samples fall inside it ...
MIN_UNSATURATED_FRACTION = 0.05
#: ... or when the data spans less than this fraction of the output range through it.
MIN_OUTPUT_SPREAD = 0.02

_SAMPLE_LIMIT = 1 << 20


def _sample(values: np.ndarray, limit: int = _SAMPLE_LIMIT) -> np.ndarray:
    """A strided subsample of at most about ``limit`` finite values, for statistics."""
    flat = values.reshape(-1)
    step = max(1, flat.size // limit)
    sample = flat[::step]
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():
        sample = sample[np.isfinite(sample)]
    return sample


def _float_or(value: Any, default: float) -> float:
    """``float(value)`` (first item of a multi-value), or ``default`` when absent or invalid."""
    if value is None:
        return default
    if isinstance(value, (list, tuple, MultiValue, np.ndarray)):
        if len(value) == 0:
            return default
        value = value[0]
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if np.isfinite(result) else default


def functional_group_item(ds: Any, sequence: str) -> Any | None:
    """The item of a functional-group macro ``sequence`` for the first frame, or None.

    Enhanced multi-frame objects (PS3.3 C.7.6.16) keep Pixel Value
    Transformation and Frame VOI LUT in the Shared or the first Per-Frame
    Functional Groups rather than at the top level.
    """
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(groups)
        if not seq:
            continue
        inner = seq[0].get(sequence)
        if inner:
            return inner[0]
    return None


def lut_from_item(item: Any, signed_input: bool = False) -> tuple[int, np.ndarray, int]:
    """Decode one LUT item (LUT Descriptor + LUT Data) to (first mapped value, table, bits).

    The descriptor is (number of entries, 0 meaning 65536; first input value
    mapped; bits per entry). The first value is signed when the input is
    signed (PS3.3 C.11.1.1); pydicom may read it as unsigned, so it is
    re-interpreted here. LUT Data may arrive as a list (US) or as raw bytes (OW).
    """
    descriptor = [int(v) for v in item.LUTDescriptor]
    if len(descriptor) != 3:
        raise ValueError("LUT Descriptor must have 3 values")
    n_entries, first, bits = descriptor
    n_entries = n_entries or 65536
    if signed_input and first > 32767:
        first -= 65536
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):
        dtype = "<u1" if len(data) == n_entries and bits <= 8 else "<u2"
        table = np.frombuffer(bytes(data), dtype=dtype)
    else:
        items = data if isinstance(data, (list, tuple, MultiValue, np.ndarray)) else [data]
        table = np.asarray([float(v) for v in items], dtype=np.float64)
    if table.size == 0:
        raise ValueError("LUT Data is empty")
    table = table[:n_entries].astype(np.float32)
    return first, table, bits


def apply_lut(values: np.ndarray, first: int, table: np.ndarray) -> np.ndarray:
    """Look up ``values`` in ``table``; inputs below or above its range take the end entries."""
    index = np.clip(np.rint(values.astype(np.float64, copy=False)) - first, 0, table.size - 1)
    return table[index.astype(np.intp)]


def apply_modality_lut(stored: np.ndarray, ds: Any) -> np.ndarray:
    """Stored values to modality values (float32): the Modality LUT Sequence or the rescale.

    A Modality LUT Sequence wins over Rescale Slope / Intercept (they are
    mutually exclusive in the standard); a missing, zero or non-finite slope
    is taken as 1 and a missing intercept as 0.
    """
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    seq = ds.get("ModalityLUTSequence")
    if seq:
        try:
            first, table, _bits = lut_from_item(seq[0], signed_input=signed)
            return apply_lut(stored, first, table)
        except (AttributeError, ValueError, TypeError, IndexError):
            pass  # a damaged LUT: fall back to the rescale below
    source = ds
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        source = functional_group_item(ds, "PixelValueTransformationSequence") or ds
    slope = _float_or(source.get("RescaleSlope"), 1.0) or 1.0
    intercept = _float_or(source.get("RescaleIntercept"), 0.0)
    out = stored.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)
    return out


def window_presets(ds: Any) -> list[WindowPreset]:
    """All windows stored in the file, in modality-value units (first one first).

    Reads Window Center / Width (several values allowed), the Window Center &
    Width Explanation and the VOI LUT Function, at the top level or in the
    Frame VOI LUT functional group. Pairs with a width <= 0 are skipped.
    """
    source = ds
    if "WindowCenter" not in ds:
        source = functional_group_item(ds, "FrameVOILUTSequence") or ds
    centers = source.get("WindowCenter")
    widths = source.get("WindowWidth")
    if centers is None or widths is None:
        return []

    def as_list(value: Any) -> list[Any]:
        return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]

    names = as_list(source.get("WindowCenterWidthExplanation") or [])
    function = str(source.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    presets = []
    for i, (c, w) in enumerate(zip(as_list(centers), as_list(widths), strict=False)):
        center, width = _float_or(c, np.nan), _float_or(w, np.nan)
        if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
            continue
        name = str(names[i]) if i < len(names) and names[i] is not None else ""
        presets.append(WindowPreset(center, width, name, function))
    return presets


def apply_window(
    values: np.ndarray, center: float, width: float, function: str = "LINEAR"
) -> np.ndarray:
    """Map modality values to [0, 1] through a window (PS3.3 C.11.2.1.2).

    LINEAR: the classic DICOM ramp, centred on ``center - 0.5`` over
    ``width - 1`` (width clamped to >= 1); LINEAR_EXACT: the ramp over exactly
    [center - width/2, center + width/2]; SIGMOID: 1 / (1 + exp(-4 (x - c) / w)).
    """
    x = values.astype(np.float32, copy=False)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        w = max(float(width), 1e-6)
        z = np.clip(-4.0 * (x - np.float32(center)) / np.float32(w), -80.0, 80.0)
        return (1.0 / (1.0 + np.exp(z))).astype(np.float32)
    if function == "LINEAR_EXACT":
        w = max(float(width), 1e-6)
        out = (x - np.float32(center)) / np.float32(w) + np.float32(0.5)
    else:
        w = max(float(width), 1.0)
        if w == 1.0:
            return (x > np.float32(center - 0.5)).astype(np.float32)
        out = (x - np.float32(center - 0.5)) / np.float32(w - 1.0) + np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


def apply_lut_item(values: np.ndarray, item: Any, signed_input: bool = False) -> np.ndarray:
    """Apply one VOI LUT Sequence item and scale its output to [0, 1].

    The output is divided by the largest value the declared entry bit depth
    allows; when the table holds values above it (a common descriptor error)
    the next power of two that holds them is used instead.
    """
    first, table, bits = lut_from_item(item, signed_input=signed_input)
    top = float(2 ** max(1, min(int(bits), 16)) - 1)
    table_max = float(table.max())
    if table_max > top:
        top = float(2 ** int(np.ceil(np.log2(table_max + 1))) - 1)
    out = apply_lut(values, first, table) / np.float32(top)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def percentile_window(
    values: np.ndarray, percentiles: Sequence[float] = ROBUST_PERCENTILES
) -> tuple[float, float]:
    """A robust (low, high) value range: the given percentiles of the data.

    Falls back to the full min/max when the percentiles coincide (sparse data),
    and to (v, v + 1) for a constant image.
    """
    sample = _sample(values)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, list(percentiles)))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def apply_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map of [lo, hi] to [0, 1], clipped."""
    scale = np.float32(1.0 / (hi - lo)) if hi > lo else np.float32(0.0)
    out = (values.astype(np.float32, copy=False) - np.float32(lo)) * scale
    return np.clip(out, 0.0, 1.0, out=out)


def window_fits(values: np.ndarray, preset: WindowPreset) -> bool:
    """Whether a stored window shows the data rather than a flat field.

    A window fits unless fewer than ``MIN_UNSATURATED_FRACTION`` of the samples
    fall strictly inside it (nearly everything clipped to black or white, as in
    a window copied from another acquisition), or the robust 0.5-99.5 % range
    of the data maps to less than ``MIN_OUTPUT_SPREAD`` of the output (a window
    far wider than the data).
    """
    sample = _sample(values, 1 << 16)
    if sample.size == 0:
        return True
    out = apply_window(sample, preset.center, preset.width, preset.function)
    unsaturated = float(np.mean((out > 0.002) & (out < 0.998)))
    lo, hi = np.percentile(out, list(ROBUST_PERCENTILES))
    return unsaturated >= MIN_UNSATURATED_FRACTION and float(hi - lo) >= MIN_OUTPUT_SPREAD


def _voi_lut_item(ds: Any) -> Any | None:
    """The first VOI LUT Sequence item, at the top level or in the Frame VOI LUT group, or None."""
    seq = ds.get("VOILUTSequence")
    if not seq:
        item = functional_group_item(ds, "FrameVOILUTSequence")
        seq = item.get("VOILUTSequence") if item is not None else None
    return seq[0] if seq else None


def apply_voi(values: np.ndarray, ds: Any) -> np.ndarray:
    """The VOI step: the first window if it fits, else the VOI LUT Sequence, else a robust window.

    The standard lets a file carry both a window and a VOI LUT; the window is
    preferred (it is what the viewer's window presets show). A window that
    does not fit the data (:func:`window_fits`) is passed over.
    """
    presets = window_presets(ds)
    if presets and window_fits(values, presets[0]):
        p = presets[0]
        return apply_window(values, p.center, p.width, p.function)
    item = _voi_lut_item(ds)
    if item is not None:
        try:
            # the first mapped value is signed when the modality values can be negative
            signed = bool(values.size) and float(_sample(values).min()) < 0
            return apply_lut_item(values, item, signed_input=signed)
        except (AttributeError, ValueError, TypeError, IndexError):
            pass  # a damaged LUT: use the robust window
    lo, hi = percentile_window(values)
    return apply_range(values, lo, hi)


def needs_inversion(photometric: str, presentation_lut_shape: str | None = None) -> bool:
    """Whether the VOI output must be inverted so that the image shows with air dark.

    * MONOCHROME1: the minimum value is displayed white (PS3.3 C.7.6.3.1.2), so
      the VOI output is inverted.
    * Presentation LUT Shape INVERSE (PS3.3 C.11.6.1.2) on MONOCHROME2 inverts.
    * Both together invert once, not twice: the DX, MG and IO IODs require
      INVERSE exactly when the image is MONOCHROME1 (PS3.3 C.8.11.6.1.2), so the
      shape restates the polarity of the photometric interpretation rather than
      adding a second inversion. Cancelling them would show such chest films
      with white air.
    """
    photometric = (photometric or "").strip().upper()
    shape = (presentation_lut_shape or "").strip().upper()
    return photometric == "MONOCHROME1" or shape == "INVERSE"


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601) of an (..., 3) or (..., 4) array, float32; alpha is ignored."""
    r, g, b = BT601_LUMA
    x = rgb.astype(np.float32, copy=False)
    return (
        x[..., 0] * np.float32(r) + x[..., 1] * np.float32(g) + x[..., 2] * np.float32(b)
    ).astype(np.float32, copy=False)


def palette_to_rgb(indices: np.ndarray, ds: Any) -> tuple[np.ndarray, float]:
    """PALETTE COLOR indices to RGB with pydicom's ``apply_color_lut``; returns (rgb, full scale)."""
    from pydicom.pixels import apply_color_lut

    rgb = apply_color_lut(indices, ds)
    full = 255.0 if rgb.dtype.itemsize == 1 else 65535.0
    return rgb, full


def to_display(values: np.ndarray, ds: Any) -> np.ndarray:
    """Modality values of a grey-scale image to display pixels (float32 in [0, 1]).

    VOI LUT step (:func:`apply_voi`) then polarity (:func:`needs_inversion`).
    """
    pixels = apply_voi(values, ds)
    if needs_inversion(
        str(ds.get("PhotometricInterpretation", "")), ds.get("PresentationLUTShape")
    ):
        pixels = np.subtract(np.float32(1.0), pixels, out=pixels)
    return pixels.astype(np.float32, copy=False)
