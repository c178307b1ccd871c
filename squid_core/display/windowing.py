"""Window / level in stored-value units: windows, presets, the value mapping, grey LUTs.

No Qt here, so what a window preset means and how a window applies to the model's
reconstruction (which comes back in display space) are numpy functions a test can check
without a window.

A window is (centre, width) in the units of ``ImageData.values`` (after the Modality LUT),
like the DICOM Window Center/Width. ``window=None`` in a
:class:`~squid_core.display.orientation.ViewState` means "the file's own display
pipeline": ``ImageData.pixels`` shown with levels (0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A window (VOI) in stored-value units: centre and width, and where it came from."""

    center: float
    width: float
    name: str = ""

    @property
    def levels(self) -> tuple[float, float]:
        """(low, high) for ``ImageItem.setImage(levels=...)``."""
        half = max(self.width, 1e-6) / 2.0
        return (self.center - half, self.center + half)

    def dragged(self, d_width: float, d_center: float) -> Window:
        """The window after a right-drag: width and centre moved, width kept positive."""
        return Window(self.center + d_center, max(self.width + d_width, 1e-3), "manual")


def _sample(values: np.ndarray, max_samples: int = 250_000) -> np.ndarray:
    """A strided sample of a 2-D array, for percentiles that stay fast on big images."""
    step = max(1, int(np.sqrt(values.size / max_samples)))
    return np.asarray(values[::step, ::step], dtype=np.float64)


@dataclass(frozen=True)
class ValueMapping:
    """How the file's display pipeline maps stored values to display intensities.

    Fitted on the image itself (median stored value for each of 256 display bins), so
    a window in stored-value units can also be applied to the model's reconstruction,
    which comes back in display space.
    """

    display_bins: np.ndarray
    values_at_bins: np.ndarray
    increasing: bool

    @classmethod
    def fit(cls, pixels: np.ndarray, values: np.ndarray) -> ValueMapping:
        """Fit from one frame's display pixels [0, 1] and stored values."""
        p = _sample(pixels).ravel()
        v = _sample(values).ravel()
        finite = np.isfinite(p) & np.isfinite(v)
        p, v = p[finite], v[finite]
        if p.size < 2 or np.ptp(p) == 0 or np.ptp(v) == 0:
            return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]), True)
        bins = np.clip((p * 255).astype(np.int64), 0, 255)
        order = np.argsort(bins, kind="stable")
        bins_sorted, v_sorted = bins[order], v[order]
        present, starts = np.unique(bins_sorted, return_index=True)
        groups = np.split(v_sorted, starts[1:])
        medians = np.array([np.median(g) for g in groups])
        increasing = bool(np.corrcoef(p, v)[0, 1] >= 0)
        return cls(present / 255.0, medians, increasing)

    def to_values(self, display: np.ndarray) -> np.ndarray:
        """Map display intensities [0, 1] to estimated stored values (float32)."""
        return np.interp(display, self.display_bins, self.values_at_bins).astype(np.float32)


def auto_window(values: np.ndarray) -> Window:
    """A robust window: the 0.5th to 99.5th percentile of the stored values."""
    lo, hi = np.percentile(_sample(values), [0.5, 99.5])
    return Window((lo + hi) / 2.0, max(hi - lo, 1e-3), "Auto")


def _display_window(values: np.ndarray, increasing: bool, lo_pct: float, hi_pct: float,
                    name: str) -> Window:
    """A window covering the ``lo_pct``..``hi_pct`` percentiles of *display* brightness."""
    sign = 1.0 if increasing else -1.0
    lo, hi = np.percentile(sign * _sample(values), [lo_pct, hi_pct])
    return Window(sign * (lo + hi) / 2.0, max(hi - lo, 1e-3), name)


def lung_window(values: np.ndarray, increasing: bool, modality: str | None = None) -> Window:
    """Lung preset: HU window on CT; on radiographs the darker two thirds, spread out."""
    if (modality or "").upper() == "CT":
        return Window(-600.0, 1500.0, "Lung")
    return _display_window(values, increasing, 1.0, 65.0, "Lung")


def bone_window(values: np.ndarray, increasing: bool, modality: str | None = None) -> Window:
    """Bone preset: HU window on CT; on radiographs the brightest half, spread out."""
    if (modality or "").upper() == "CT":
        return Window(400.0, 1800.0, "Bone")
    return _display_window(values, increasing, 50.0, 99.8, "Bone")


def window_presets(values: np.ndarray, file_windows: list, increasing: bool,
                   modality: str | None = None) -> list[Window]:
    """Presets in digit-key order: the file's own windows, then auto, lung, bone.

    ``file_windows`` holds objects with ``center``, ``width`` and ``name`` attributes
    (``squid_core.io`` WindowPreset).
    """
    presets = []
    for i, w in enumerate(file_windows or []):
        name = getattr(w, "name", None) or f"File window {i + 1}"
        presets.append(Window(float(w.center), float(w.width), str(name)))
    presets.append(auto_window(values))
    presets.append(lung_window(values, increasing, modality))
    presets.append(bone_window(values, increasing, modality))
    return presets


def drag_scale(values: np.ndarray) -> float:
    """Stored-value units per screen pixel of right-drag: 1/400 of the value range."""
    sample = _sample(values)
    span = float(np.nanmax(sample) - np.nanmin(sample)) if sample.size else 1.0
    return max(span, 1e-3) / 400.0


def grey_lut(inverted: bool) -> np.ndarray:
    """A 256-entry grey lookup table, dark-to-bright or (inverted) bright-to-dark."""
    ramp = np.arange(256, dtype=np.uint8)
    if inverted:
        ramp = ramp[::-1].copy()
    return np.repeat(ramp[:, None], 3, axis=1)
