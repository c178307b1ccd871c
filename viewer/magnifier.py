"""Magnifier: a loupe that follows the cursor and shows the original enlarged.

It shows the pixels exactly as the original pane draws them (same window, inversion and
orientation), each repeated ``zoom`` times, so the radiologist can inspect a detail
without changing the zoom of the panes.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QWidget

#: Side of the loupe in screen pixels, and the enlargement.
SIZE = 200
ZOOM = 3


def magnified(rgb: np.ndarray, zoom: int = ZOOM) -> np.ndarray:
    """Each pixel of an (h, w, 3) uint8 crop repeated ``zoom`` x ``zoom`` times."""
    return np.repeat(np.repeat(rgb, zoom, axis=0), zoom, axis=1)


class Magnifier(QLabel):
    """A frameless label drawn over the panes; hidden until enabled and over an image."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFixedSize(SIZE, SIZE)
        self.setStyleSheet("border: 2px solid #f0c674; background: black;")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.enabled = False
        self.hide()

    @staticmethod
    def crop_half() -> int:
        """Half-size, in image pixels, of the region a loupe shows."""
        return SIZE // (2 * ZOOM)

    def show_crop(self, rgb: np.ndarray, at: QPoint) -> None:
        """Show an (h, w, 3) uint8 crop near widget position ``at`` (kept inside)."""
        if not self.enabled or rgb.size == 0:
            self.hide()
            return
        big = np.ascontiguousarray(magnified(rgb))
        h, w = big.shape[:2]
        image = QImage(big.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.setPixmap(QPixmap.fromImage(image))
        parent = self.parentWidget()
        x = min(max(at.x() + 24, 0), max(parent.width() - SIZE, 0))
        y = min(max(at.y() - SIZE - 24, 0), max(parent.height() - SIZE, 0))
        self.move(x, y)
        self.show()
        self.raise_()
