"""Acquisition nuisances: transforms of a radiograph that change how it was framed or
exposed, not what it shows.

A score meant to find disease should not move when a normal chest is only re-framed
(collimation, patient distance), re-exposed (dose, processing curve) or imaged by a
sharper, softer or noisier detector. These pure functions apply such changes to a
display-space image (H, W) float32 in [0, 1] and return one of the same shape, so the
robustness yardstick (``bench/robustness.py``, :mod:`squid_core.scoring.robustness`) and
test-time averaging share one definition of each nuisance.

Conventions (strength = the transform's one parameter):

* ``zoom_in(z)``: keep the central ``1/z`` of each side, resize back (``z = 1.15``
  crops 6.5 % per side: the thorax fills more of the image);
* ``zoom_out(z)``: shrink the image to ``1/z`` of each side, centred, the border filled
  by replicating the edge pixels (more neck and abdomen, no black frame);
* ``gamma(g)``: ``x ** g`` (``g < 1`` brighter, ``g > 1`` darker);
* ``contrast(c)``: ``0.5 + c * (x - 0.5)``, clipped (``c > 1`` more contrast);
* ``blur(s)``: Gaussian blur, sigma ``s`` of the shorter side (a softer detector);
* ``sharpen(a)``: unsharp mask of amount ``a`` (sigma 1 % of the shorter side);
* ``noise(s)``: additive Gaussian noise of standard deviation ``s``, seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Nuisance",
    "zoom_in",
    "zoom_out",
    "gamma",
    "contrast",
    "blur",
    "sharpen",
    "noise",
    "nuisance_family",
    "parse_nuisance",
    "KINDS",
]


def _image(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2 or min(a.shape) < 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    return a


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    interp = cv2.INTER_AREA if (w < a.shape[1] or h < a.shape[0]) else cv2.INTER_LINEAR
    return cv2.resize(a, (w, h), interpolation=interp)


def zoom_in(x: np.ndarray, z: float) -> np.ndarray:
    """Crop the central ``1/z`` of each side (``z >= 1``) and resize back."""
    if z < 1.0:
        raise ValueError(f"zoom_in needs z >= 1, got {z}")
    a = _image(x)
    h, w = a.shape
    ch, cw = max(2, round(h / z)), max(2, round(w / z))
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.clip(_resize(a[top:top + ch, left:left + cw], w, h), 0.0, 1.0)


def zoom_out(x: np.ndarray, z: float) -> np.ndarray:
    """Shrink to ``1/z`` of each side (``z >= 1``), centred, edge-replicated border."""
    if z < 1.0:
        raise ValueError(f"zoom_out needs z >= 1, got {z}")
    a = _image(x)
    h, w = a.shape
    sh, sw = max(2, round(h / z)), max(2, round(w / z))
    small = _resize(a, sw, sh)
    top, left = (h - sh) // 2, (w - sw) // 2
    out = cv2.copyMakeBorder(small, top, h - sh - top, left, w - sw - left,
                             cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0)


def gamma(x: np.ndarray, g: float) -> np.ndarray:
    """``x ** g``: ``g < 1`` brightens, ``g > 1`` darkens; 0 and 1 stay put."""
    if g <= 0:
        raise ValueError(f"gamma needs g > 0, got {g}")
    return np.power(np.clip(_image(x), 0.0, 1.0), g, dtype=np.float32)


def contrast(x: np.ndarray, c: float) -> np.ndarray:
    """Scale the contrast by ``c`` around mid-grey, clipped to [0, 1]."""
    if c <= 0:
        raise ValueError(f"contrast needs c > 0, got {c}")
    return np.clip(0.5 + c * (_image(x) - 0.5), 0.0, 1.0).astype(np.float32)


def _sigma_px(a: np.ndarray, s: float) -> float:
    return max(1e-3, s * min(a.shape))


def blur(x: np.ndarray, s: float) -> np.ndarray:
    """Gaussian blur with sigma ``s`` times the shorter side (``s = 0.01``: 2.2 px at 224)."""
    if s < 0:
        raise ValueError(f"blur needs s >= 0, got {s}")
    a = _image(x)
    if s == 0:
        return a.copy()
    return cv2.GaussianBlur(a, (0, 0), _sigma_px(a, s), borderType=cv2.BORDER_REPLICATE)


def sharpen(x: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp mask: ``x + amount * (x - blur(x))`` (blur sigma 1 % of the shorter side)."""
    if amount < 0:
        raise ValueError(f"sharpen needs amount >= 0, got {amount}")
    a = _image(x)
    return np.clip(a + amount * (a - blur(a, 0.01)), 0.0, 1.0).astype(np.float32)


def noise(x: np.ndarray, s: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``s`` (seeded: the same image and seed
    always get the same noise), clipped to [0, 1]."""
    if s < 0:
        raise ValueError(f"noise needs s >= 0, got {s}")
    a = _image(x)
    rng = np.random.default_rng(seed)
    return np.clip(a + rng.normal(0.0, s, a.shape).astype(np.float32), 0.0, 1.0)


#: Every nuisance kind by name: ``fn(image, strength)``.
KINDS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "zoom_in": zoom_in,
    "zoom_out": zoom_out,
    "gamma": gamma,
    "contrast": contrast,
    "blur": blur,
    "sharpen": sharpen,
    "noise": noise,
}

_DESCRIBE = {
    "zoom_in": lambda v: f"zoom in {round((v - 1) * 100)} % (crop {(1 - 1 / v) * 50:.1f} % per side)",
    "zoom_out": lambda v: f"zoom out {round((v - 1) * 100)} % (edge-replicated border)",
    "gamma": lambda v: f"gamma {v:g} ({'brighter' if v < 1 else 'darker'})",
    "contrast": lambda v: f"contrast x{v:g} around mid-grey",
    "blur": lambda v: f"blur, sigma {v * 100:g} % of the side",
    "sharpen": lambda v: f"sharpen, unsharp amount {v:g}",
    "noise": lambda v: f"noise, SD {v:g}",
}


@dataclass(frozen=True)
class Nuisance:
    """One transform at one strength, e.g. ``Nuisance("gamma", 0.8)``."""

    kind: str
    strength: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown nuisance {self.kind!r} (known: {', '.join(KINDS)})")
        KINDS[self.kind](np.full((4, 4), 0.5, np.float32), self.strength)  # checks the strength

    @property
    def label(self) -> str:
        """Short identifier, e.g. ``gamma=0.8``."""
        return f"{self.kind}={self.strength:g}"

    @property
    def description(self) -> str:
        """What it does, in words."""
        return _DESCRIBE[self.kind](self.strength)

    def apply(self, x: np.ndarray, seed: int = 0) -> np.ndarray:
        """The transformed image; ``seed`` only matters for noise."""
        if self.kind == "noise":
            return noise(x, self.strength, seed)
        return KINDS[self.kind](x, self.strength)


def nuisance_family() -> list[Nuisance]:
    """The yardstick's family: the five nuisances of issue 15 at several strengths,
    plus detector blur, sharpening and noise."""
    spec = {
        "zoom_in": (1.05, 1.10, 1.15, 1.25),
        "zoom_out": (1.05, 1.10, 1.20),
        "gamma": (0.7, 0.8, 0.9, 1.1, 1.25, 1.4),
        "contrast": (0.8, 1.2, 1.4),
        "blur": (0.005, 0.01),
        "sharpen": (0.5, 1.0),
        "noise": (0.01, 0.03),
    }
    return [Nuisance(k, v) for k, values in spec.items() for v in values]


def parse_nuisance(text: str) -> Nuisance:
    """``"gamma=0.8"`` -> ``Nuisance("gamma", 0.8)``; a clear ValueError otherwise."""
    kind, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected KIND=STRENGTH (e.g. gamma=0.8), got {text!r}")
    try:
        strength = float(value)
    except ValueError:
        raise ValueError(f"strength of {text!r} is not a number") from None
    return Nuisance(kind.strip(), strength)
