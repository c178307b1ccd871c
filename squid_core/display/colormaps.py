"""The heatmap colormaps: one lookup table per name, for the screen and the Secondary Capture.

The viewer's overlay, its colour bar, its report and the node's Secondary Capture all
take their colours from :func:`colormap_lut`, so a colour means the same score on screen
and in the PACS. The tables come from OpenCV (already a dependency of the image I/O), so
no GUI library is needed to draw them.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Perceptually uniform maps first; "turbo" for those used to it.
_OPENCV_MAPS = {
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "plasma": cv2.COLORMAP_PLASMA,
    "turbo": cv2.COLORMAP_TURBO,
}
#: The colormaps a user can choose, in menu order.
COLORMAPS: tuple[str, ...] = tuple(_OPENCV_MAPS)
#: The colormap of a Secondary Capture and of a viewer that was never told otherwise.
DEFAULT_COLORMAP = "inferno"


def colormap_lut(name: str = DEFAULT_COLORMAP, points: int = 256) -> np.ndarray:
    """(points, 3) uint8 RGB lookup table of the colormap ``name`` (one of :data:`COLORMAPS`).

    Raises ValueError naming the known colormaps for any other name.
    """
    try:
        code = _OPENCV_MAPS[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}") \
            from None
    if points < 2:
        raise ValueError(f"a colormap needs at least 2 points, not {points}")
    ramp = np.round(np.linspace(0, 255, points)).astype(np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, code).reshape(-1, 3)
    return np.ascontiguousarray(bgr[:, ::-1])
