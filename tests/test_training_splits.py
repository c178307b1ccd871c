"""Deterministic validation splits."""

from __future__ import annotations

import random
from pathlib import Path

from squid_core.training.splits import split_validation, take_subset


def test_split_is_deterministic_and_order_independent():
    files = [Path(f"img_{i:03d}.png") for i in range(100)]
    shuffled = files[:]
    random.Random(1).shuffle(shuffled)
    a = split_validation(files, fraction=0.2, seed=3)
    b = split_validation(shuffled, fraction=0.2, seed=3)
    assert a == b
    train, val = a
    assert len(val) == 20 and len(train) == 80
    assert not set(train) & set(val)
    assert split_validation(files, fraction=0.2, seed=4)[1] != val


def test_split_by_count_keeps_one_for_training():
    files = [f"f{i}" for i in range(5)]
    train, val = split_validation(files, count=10)
    assert len(train) == 1 and len(val) == 4


def test_take_subset():
    files = [f"f{i}" for i in range(50)]
    assert take_subset(files, 10, seed=1) == take_subset(list(reversed(files)), 10, seed=1)
    assert take_subset(files, None) == sorted(files)
