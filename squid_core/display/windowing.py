"""Pure display logic for the image panes: orientation, window/level, overlay colours.

No Qt here, so every rule the panes follow (which way a rotation turns, which source
pixel sits under the cursor, what a window preset means, how the heatmap is coloured)
is a numpy function that a test can check without a window.

Conventions:

* ``ViewState.rotation`` counts quarter turns *clockwise*; flips are applied after the
  rotation, in the displayed frame (as a radiologist expects: "flip" mirrors what is
  on screen).
* A window is (centre, width) in the units of ``ImageData.values`` (after the Modality
  LUT), like the DICOM Window Center/Width. ``window=None`` means "the file's own
  display pipeline": ``ImageData.pixels`` shown with levels (0, 1).
* The heatmap colour scale is fixed per model: 0 .. ``heatmap_scale_max``; it is never
  stretched to an image's own range, so one colour means one thing on every study.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from squid_core.exports.overlay import heatmap_rgba  # noqa: F401 - Qt-free, shared with the node

#: Quarter turns in a full rotation.
_TURNS = 4


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


@dataclass(frozen=True)
class ViewState:
    """Everything that is applied to every pane at once, apart from zoom and pan."""

    rotation: int = 0
    flip_h: bool = False
    flip_v: bool = False
    invert: bool = False
    window: Window | None = None

    def rotated(self, quarter_turns: int = 1) -> ViewState:
        """Rotate by ``quarter_turns`` clockwise; flips keep their on-screen meaning."""
        return replace(self, rotation=(self.rotation + quarter_turns) % _TURNS)


def orient(image: np.ndarray, state: ViewState) -> np.ndarray:
    """Rotate (clockwise) then flip the first two axes of ``image`` as ``state`` says.

    Works on (H, W) grey and (H, W, C) colour arrays; returns a view where numpy can.
    """
    out = np.rot90(image, k=-(state.rotation % _TURNS), axes=(0, 1))
    if state.flip_h:
        out = out[:, ::-1]
    if state.flip_v:
        out = out[::-1]
    return out


def oriented_shape(shape: tuple[int, int], state: ViewState) -> tuple[int, int]:
    """(rows, cols) of a (rows, cols) image after ``orient``."""
    rows, cols = shape[:2]
    return (cols, rows) if state.rotation % 2 else (rows, cols)


def to_source(row: int, col: int, shape: tuple[int, int], state: ViewState) -> tuple[int, int]:
    """The source pixel (row, col) shown at displayed pixel (row, col).

    ``shape`` is the *source* (rows, cols). Used for the pixel read-out, which must
    report the stored value of the pixel under the cursor whatever the orientation.
    """
    disp_rows, disp_cols = oriented_shape(shape, state)
    if state.flip_v:
        row = disp_rows - 1 - row
    if state.flip_h:
        col = disp_cols - 1 - col
    # Undo the clockwise quarter turns one at a time. One clockwise turn sends source
    # (r, c) of an (h, w) image to (c, h - 1 - r) of a (w, h) image.
    h, w = shape[0], shape[1]
    sizes = []
    for _ in range(state.rotation % _TURNS):
        sizes.append((h, w))
        h, w = w, h
    for h, _w in reversed(sizes):
        row, col = h - 1 - col, row
    return row, col


# --- window / level ------------------------------------------------------------------


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


# --- heatmap overlay ---------------------------------------------------------------


def frame_of(array: np.ndarray, frame: int) -> np.ndarray:
    """Frame ``frame`` of an (F, H, W) array, or the array itself when it is (H, W)."""
    if array.ndim == 3:
        return array[min(max(frame, 0), array.shape[0] - 1)]
    return array


@dataclass(frozen=True)
class PreparedFrame:
    """One frame with everything the panes derive from it, computed once.

    Built by :func:`prepare_frame`, in a worker thread when an image is opened, so the
    GUI thread only hands arrays to the image items.
    """

    frame: int
    pixels: np.ndarray
    values: np.ndarray
    mapping: ValueMapping
    presets: list[Window]
    drag_scale: float


def prepare_frame(image: object, frame: int = 0) -> PreparedFrame:
    """Display pixels, stored values, value mapping and presets of one frame of an
    ``ImageData`` (values fall back to the pixels when the image has none)."""
    pixels = np.asarray(frame_of(image.pixels, frame), dtype=np.float32)
    raw_values = getattr(image, "values", None)
    values = pixels if raw_values is None else np.asarray(frame_of(raw_values, frame),
                                                          dtype=np.float32)
    mapping = ValueMapping.fit(pixels, values)
    meta = getattr(image, "meta", None)
    presets = window_presets(values, getattr(meta, "windows", None) or [], mapping.increasing,
                             getattr(meta, "modality", None))
    return PreparedFrame(frame, pixels, values, mapping, presets, drag_scale(values))


def measured_length(dx: float, dy: float, spacing_mm: tuple[float, float] | None,
                    rotation: int) -> float | None:
    """Length in mm of a displayed segment (dx columns, dy rows), or None without spacing.

    ``spacing_mm`` is the source's (row, column) spacing; after an odd number of quarter
    turns displayed columns run along source rows, so the spacings swap. Flips do not
    change lengths.
    """
    if not spacing_mm:
        return None
    row_mm, col_mm = float(spacing_mm[0]), float(spacing_mm[1])
    if rotation % 2:
        row_mm, col_mm = col_mm, row_mm
    return float(np.hypot(dx * col_mm, dy * row_mm))
