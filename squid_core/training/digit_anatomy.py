"""DigitAnatomy: the synthetic "anatomy" benchmark of the SQUID paper.

A normal image is a 3 x 3 grid of MNIST digits 1..9 in reading order, each digit
augmented by a random resized crop (area scale 0.6-1.3, square, drawn as the
reference's torchvision transform draws it) and resized to a 32 px cell, so images
are 96 x 96, float32 in [0, 1], white digits on black. The anomalies break the
"anatomy" in the four ways the paper lists:

* ``missing``  - one cell is empty;
* ``swapped``  - two cells exchange their digits (the order is wrong);
* ``flipped``  - one digit is mirrored left-right (only asymmetric digits 2-7, 9);
* ``zero``     - a 0 takes the place of one digit.

The MNIST digits (IDX gz files, e.g. ``shared/data/mnist/t10k-*``) are split by
index so that training grids (``part="train"``, 4 in 5 digits) and the fixed test
set (``part="test"``, the other 1 in 5) never share a handwritten digit.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "ANOMALY_TYPES",
    "DigitSource",
    "load_mnist",
    "make_normal",
    "make_anomaly",
    "write_test_set",
    "NormalGridStream",
    "generate_test_set",
    "read_labels",
]

ANOMALY_TYPES: tuple[str, ...] = ("missing", "swapped", "flipped", "zero")
CELL = 32
GRID = 3
_ASYMMETRIC = (2, 3, 4, 5, 6, 7, 9)  # digits whose mirror image is clearly different


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data, ">i4", count=ndim, offset=4).astype(int)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def load_mnist(mnist_dir: str | Path, prefix: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N, 28, 28) uint8 and labels (N,) from ``<prefix>-*-ubyte[.gz]`` files."""
    d = Path(mnist_dir)
    found = {}
    for kind in ("images-idx3", "labels-idx1"):
        for name in (f"{prefix}-{kind}-ubyte.gz", f"{prefix}-{kind}-ubyte"):
            if (d / name).exists():
                found[kind] = d / name
                break
        else:
            raise FileNotFoundError(f"{d}: no {prefix}-{kind}-ubyte[.gz] file")
    images, labels = _read_idx(found["images-idx3"]), _read_idx(found["labels-idx1"])
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{d}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


@dataclass
class DigitSource:
    """MNIST digits grouped by class: ``by_class[k]`` is (n_k, 28, 28) uint8."""

    by_class: dict[int, np.ndarray]

    @classmethod
    def from_dir(cls, mnist_dir: str | Path, part: str = "train") -> DigitSource:
        """Load and keep ``part`` ("train": 4 of 5 digits, "test": 1 of 5, "all")."""
        images, labels = load_mnist(mnist_dir)
        idx = np.arange(len(labels))
        if part == "train":
            keep = idx % 5 != 0
        elif part == "test":
            keep = idx % 5 == 0
        elif part == "all":
            keep = np.ones_like(idx, dtype=bool)
        else:
            raise ValueError(f"part must be train, test or all, not {part!r}")
        return cls({k: images[keep & (labels == k)] for k in range(10)})

    def digit(self, k: int, rng: np.random.Generator) -> np.ndarray:
        """One augmented digit ``k`` as a (32, 32) float32 cell in [0, 1]."""
        pool = self.by_class[k]
        return random_resized_cell(pool[rng.integers(len(pool))], rng)


def random_resized_cell(
    img: np.ndarray, rng: np.random.Generator, scale: tuple[float, float] = (0.6, 1.3)
) -> np.ndarray:
    """A random square crop of ``scale`` x the digit's area, resized to a 32 px cell.

    Follows the semantics of the reference's ``RandomResizedCrop(scale=(0.6, 1.3),
    ratio=(1, 1))``: an area that does not fit in the 28 px digit (a scale above about
    1) is redrawn, up to 10 times, and after that the whole digit is taken. So a crop
    zooms in on the digit or keeps it whole; it never pads it smaller.
    """
    h, w = img.shape
    for _ in range(10):
        side = int(round(np.sqrt(rng.uniform(*scale) * h * w)))
        if 0 < side <= min(h, w):
            y0 = int(rng.integers(0, h - side + 1))
            x0 = int(rng.integers(0, w - side + 1))
            crop = img[y0 : y0 + side, x0 : x0 + side]
            break
    else:
        crop = img
    cell = cv2.resize(crop, (CELL, CELL), interpolation=cv2.INTER_LINEAR)
    return cell.astype(np.float32) / 255.0


def _assemble(cells: list[np.ndarray]) -> np.ndarray:
    rows = [np.concatenate(cells[r * GRID : (r + 1) * GRID], axis=1) for r in range(GRID)]
    return np.concatenate(rows, axis=0)


def _normal_cells(source: DigitSource, rng: np.random.Generator) -> list[np.ndarray]:
    return [source.digit(k, rng) for k in range(1, GRID * GRID + 1)]


def make_normal(source: DigitSource, rng: np.random.Generator) -> np.ndarray:
    """A normal 96 x 96 grid: digits 1..9 in reading order."""
    return _assemble(_normal_cells(source, rng))


def make_anomaly(
    source: DigitSource, rng: np.random.Generator, kind: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """``(abnormal, normal, detail)``: a grid with one anomaly of ``kind`` and the
    normal grid it was made from (same digits), plus which cells were changed."""
    cells = _normal_cells(source, rng)
    normal = _assemble(cells)
    if kind == "missing":
        i = int(rng.integers(9))
        cells[i] = np.zeros_like(cells[i])
        detail = f"cell {i}"
    elif kind == "swapped":
        i, j = (int(v) for v in rng.choice(9, size=2, replace=False))
        cells[i], cells[j] = cells[j], cells[i]
        detail = f"cells {min(i, j)},{max(i, j)}"
    elif kind == "flipped":
        i = int(rng.choice(_ASYMMETRIC)) - 1
        cells[i] = np.ascontiguousarray(cells[i][:, ::-1])
        detail = f"cell {i}"
    elif kind == "zero":
        i = int(rng.integers(9))
        cells[i] = source.digit(0, rng)
        detail = f"cell {i}"
    else:
        raise ValueError(f"unknown anomaly type {kind!r}; one of {ANOMALY_TYPES}")
    return _assemble(cells), normal, detail


class NormalGridStream:
    """Normal grids drawn on the fly for training, batch by batch.

    Its random generator's state (``state``/``set_state``) goes into checkpoints, so
    a resumed run draws the same images as an uninterrupted one.
    """

    def __init__(self, source: DigitSource, seed: int) -> None:
        self.source = source
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> np.ndarray:
        """(n, 1, 96, 96) float32."""
        return np.stack([make_normal(self.source, self.rng) for _ in range(n)])[:, None]

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def generate_test_set(
    source: DigitSource, n_normal: int, n_abnormal: int, seed: int
) -> Iterator[tuple[str, np.ndarray, int, str, str]]:
    """Yield ``(name, image, label, anomaly_type, detail)``; types cycle evenly.

    Deterministic in ``seed``; normals and abnormals use separate random streams.
    """
    rng_n, rng_a = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    for i in range(n_normal):
        yield f"normal_{i:05d}.png", make_normal(source, rng_n), 0, "none", ""
    for i in range(n_abnormal):
        kind = ANOMALY_TYPES[i % len(ANOMALY_TYPES)]
        img, _, detail = make_anomaly(source, rng_a, kind)
        yield f"abnormal_{i:05d}_{kind}.png", img, 1, kind, detail


def write_test_set(
    mnist_dir: str | Path, out_dir: str | Path, n_normal: int, n_abnormal: int, seed: int
) -> Path:
    """Write ``out/normal/*.png``, ``out/abnormal/*.png`` and ``out/labels.csv``.

    Uses the held-out test digits (``part="test"``). ``labels.csv`` columns: file
    (relative to ``out``), label (0 normal, 1 abnormal), anomaly_type, detail.
    Returns the path of ``labels.csv``.
    """
    out = Path(out_dir)
    for sub in ("normal", "abnormal"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    source = DigitSource.from_dir(mnist_dir, part="test")
    rows = []
    for name, img, label, kind, detail in generate_test_set(source, n_normal, n_abnormal, seed):
        rel = f"{'abnormal' if label else 'normal'}/{name}"
        u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(out / rel), u8):
            raise OSError(f"could not write {out / rel}")
        rows.append((rel, label, kind, detail))
    labels = out / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "anomaly_type", "detail"])
        w.writerows(rows)
    return labels


def read_labels(labels_csv: str | Path) -> list[dict[str, str]]:
    """The rows of a ``labels.csv`` written by :func:`write_test_set`."""
    with open(labels_csv, newline="") as f:
        return list(csv.DictReader(f))
