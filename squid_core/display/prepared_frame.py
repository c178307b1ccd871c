"""One frame of an image with what the display derives from it (value mapping, presets).

Computed once, off the interface's thread (in the reader's helper process, see
:mod:`squid_core.io.reader_pool`), so a GUI only hands arrays to its image items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from squid_core.display.windowing import ValueMapping, Window, drag_scale, window_presets


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
