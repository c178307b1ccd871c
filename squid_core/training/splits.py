"""Deterministic validation splits.

Which file lands in the validation split depends only on its path (relative to the
folder it came from) and the seed, not on directory listing order or the machine,
so the same folder always gives the same split and a resumed run sees the same one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["stable_order", "split_validation", "take_subset"]

T = TypeVar("T", str, Path)


def _key(item: str | Path, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{Path(item).as_posix()}".encode()).hexdigest()


def stable_order(items: Sequence[T], seed: int = 0) -> list[T]:
    """The items in a pseudo-random order fixed by their names and the seed."""
    return sorted(items, key=lambda it: (_key(it, seed), str(it)))


def split_validation(
    items: Sequence[T], *, fraction: float | None = None, count: int | None = None, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Split into ``(train, val)``; ``val`` has ``count`` items or ``round(fraction * n)``.

    Both lists come back sorted by name. Exactly one of ``fraction`` and ``count``
    must be given; at least one item always stays in training.
    """
    if (fraction is None) == (count is None):
        raise ValueError("give exactly one of fraction and count")
    n = len(items)
    if fraction is not None:
        if not 0.0 <= fraction < 1.0:
            raise ValueError("fraction must be in [0, 1)")
        count = round(fraction * n)
    assert count is not None
    count = max(0, min(int(count), n - 1))
    order = stable_order(items, seed)
    val = set(order[:count])
    train = sorted((it for it in items if it not in val), key=str)
    return train, sorted(val, key=str)


def take_subset(items: Sequence[T], count: int | None, seed: int = 0) -> list[T]:
    """At most ``count`` items chosen deterministically (all when ``count`` is None)."""
    if count is None or count >= len(items):
        return sorted(items, key=str)
    return sorted(stable_order(items, seed)[:count], key=str)
