"""DigitAnatomy generator: shapes, anomaly types, determinism, the test-set writer."""

from __future__ import annotations

import csv
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from squid_core.training.digit_anatomy import (
    ANOMALY_TYPES,
    DigitSource,
    NormalGridStream,
    make_anomaly,
    make_normal,
    random_resized_cell,
    write_test_set,
)


def write_fake_mnist(folder: Path, per_class: int = 10) -> Path:
    """Tiny IDX files whose 'digits' are asymmetric random strokes, one look per class."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for k in range(10):
        base = np.zeros((28, 28), np.uint8)
        base[4 + k : 24, 6 : 9 + k] = 255  # a bar whose size depends on the class
        base[4:7, 6:22] = 200  # top stroke going right: mirror images differ
        for _ in range(per_class):
            images.append(np.roll(base, rng.integers(-2, 3), axis=1))
            labels.append(k)
    folder.mkdir(parents=True, exist_ok=True)
    imgs = np.stack(images)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">iiii", 2051, len(imgs), 28, 28) + imgs.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">ii", 2049, len(labels)) + np.array(labels, np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("mnist"))


def test_normal_grid_shape_and_range(mnist_dir):
    src = DigitSource.from_dir(mnist_dir, part="train")
    img = make_normal(src, np.random.default_rng(0))
    assert img.shape == (96, 96) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.5
    # every cell holds a digit
    cells = img.reshape(3, 32, 3, 32).transpose(0, 2, 1, 3).reshape(9, -1)
    assert (cells.max(axis=1) > 0.5).all()


def test_random_resized_crop_zooms_in_or_keeps_the_digit_never_shrinks_it():
    """The reference's RandomResizedCrop(scale=(0.6, 1.3)) redraws areas larger than the
    digit and falls back to the whole digit: a cell is never padded with background."""
    rng = np.random.default_rng(0)
    solid = np.full((28, 28), 255, np.uint8)
    cells = [random_resized_cell(solid, rng) for _ in range(300)]
    assert all(c.shape == (32, 32) and c.min() == 1.0 for c in cells)
    # and it does crop: a left-right ramp shows different windows of the digit
    ramp = np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))
    left_edges = {round(float(random_resized_cell(ramp, rng)[16, 0]), 2) for _ in range(100)}
    assert len(left_edges) > 5 and min(left_edges) == 0.0


@pytest.mark.parametrize("kind", ANOMALY_TYPES)
def test_each_anomaly_really_differs_from_its_normal(mnist_dir, kind):
    src = DigitSource.from_dir(mnist_dir, part="test")
    for seed in range(5):
        abnormal, normal, detail = make_anomaly(src, np.random.default_rng(seed), kind)
        assert abnormal.shape == normal.shape == (96, 96)
        diff = np.abs(abnormal - normal).reshape(3, 32, 3, 32).sum(axis=(1, 3))
        changed = np.argwhere(diff > 1.0)  # cells with a visible change
        expected = 2 if kind == "swapped" else 1
        assert len(changed) == expected, (kind, detail, diff)


def test_generation_is_deterministic_by_seed(mnist_dir):
    src = DigitSource.from_dir(mnist_dir)
    a = NormalGridStream(src, seed=5).batch(3)
    b = NormalGridStream(src, seed=5).batch(3)
    c = NormalGridStream(src, seed=6).batch(3)
    assert a.shape == (3, 1, 96, 96)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stream_state_round_trip(mnist_dir):
    s = NormalGridStream(DigitSource.from_dir(mnist_dir), seed=1)
    s.batch(2)
    state = s.state()
    x = s.batch(2)
    s.set_state(state)
    np.testing.assert_array_equal(x, s.batch(2))


def test_write_test_set(tmp_path, mnist_dir):
    out = tmp_path / "da"
    labels = write_test_set(mnist_dir, out, n_normal=3, n_abnormal=8, seed=2)
    rows = list(csv.DictReader(open(labels)))
    assert len(list((out / "normal").glob("*.png"))) == 3
    assert len(list((out / "abnormal").glob("*.png"))) == 8
    kinds = [r["anomaly_type"] for r in rows if r["label"] == "1"]
    assert sorted(set(kinds)) == sorted(ANOMALY_TYPES) and kinds.count("zero") == 2
    assert all((out / r["file"]).exists() for r in rows)
    again = tmp_path / "db"
    write_test_set(mnist_dir, again, n_normal=3, n_abnormal=8, seed=2)
    for r in rows:
        assert (out / r["file"]).read_bytes() == (again / r["file"]).read_bytes()
