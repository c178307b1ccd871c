"""Orientation of the displayed image: rotation, flips, and the source pixel under the cursor.

Conventions: ``ViewState.rotation`` counts quarter turns *clockwise*; flips are applied
after the rotation, in the displayed frame (as a radiologist expects: "flip" mirrors
what is on screen). No Qt here: every rule is a numpy function a test can check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from squid_core.display.windowing import Window

#: Quarter turns in a full rotation.
_TURNS = 4


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
