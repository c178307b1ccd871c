"""Deterministic validation splits.

Which file lands in the validation split depends only on its path (relative to the
folder it came from) and the seed, not on directory listing order or the machine,
so the same folder always gives the same split and a resumed run sees the same one.

Splits are grouped: items that share a group (one patient's images, see
:mod:`squid_core.training.patients`; exact duplicates) always land on the same side.
Groups are ordered by a hash of their key and the seed and taken whole; a group too big
for the room left is passed over for smaller ones, so the validation side gets the
requested size whenever the group sizes allow, and never more. Without groups every
item is its own group, which gives exactly the ungrouped split of earlier versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["stable_order", "split_validation", "take_subset", "take_groups", "merge_groups"]

T = TypeVar("T", str, Path)


def _key(item: str | Path, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{Path(item).as_posix()}".encode()).hexdigest()


def stable_order(items: Sequence[T], seed: int = 0) -> list[T]:
    """The items in a pseudo-random order fixed by their names and the seed."""
    return sorted(items, key=lambda it: (_key(it, seed), str(it)))


def _by_name(item: str | Path) -> str:
    return Path(item).as_posix()


def take_groups(
    items: Sequence[T], count: int, seed: int = 0, group_of: Callable[[T], str] | None = None,
) -> tuple[list[T], list[T]]:
    """``(taken, rest)``: whole groups, in hash order, until ``count`` items are taken
    (never more; fewer only when no remaining group fits). Both sorted by name.

    ``group_of(item)`` names the item's group (default: the item itself).
    """
    key = group_of or _by_name
    groups: dict[str, list[T]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    taken: list[T] = []
    for g in sorted(groups, key=lambda g: (_key(g, seed), g)):
        if len(taken) >= count:
            break
        if len(taken) + len(groups[g]) <= count:
            taken.extend(groups[g])
    chosen = set(taken)
    rest = [it for it in items if it not in chosen]
    return sorted(taken, key=str), sorted(rest, key=str)


def split_validation(
    items: Sequence[T], *, fraction: float | None = None, count: int | None = None, seed: int = 0,
    group_of: Callable[[T], str] | None = None,
) -> tuple[list[T], list[T]]:
    """Split into ``(train, val)``; ``val`` has ``count`` items or ``round(fraction * n)``
    (fewer when whole groups cannot make up the number exactly).

    Both lists come back sorted by name. Exactly one of ``fraction`` and ``count``
    must be given; at least one item always stays in training. ``group_of(item)``
    names the item's group (e.g. its patient): a group is never on both sides.
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
    val, train = take_groups(items, count, seed, group_of)
    return train, val


def merge_groups(keys: dict[T, Iterable[Hashable]]) -> dict[T, str]:
    """Connected components: items sharing any key (a patient, a content hash) end in
    one group. Returns item -> group name (the smallest item name in the group)."""
    parent: dict[object, object] = {}

    def find(a: object) -> object:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for item, ks in keys.items():
        for k in ks:
            ra, rb = find(("item", item)), find(("key", k))
            if ra != rb:
                parent[rb] = ra
    members: dict[object, list[T]] = {}
    for item in keys:
        members.setdefault(find(("item", item)), []).append(item)
    out: dict[T, str] = {}
    for group in members.values():
        name = min(_by_name(it) for it in group)
        for it in group:
            out[it] = name
    return out


def take_subset(items: Sequence[T], count: int | None, seed: int = 0) -> list[T]:
    """At most ``count`` items chosen deterministically (all when ``count`` is None)."""
    if count is None or count >= len(items):
        return sorted(items, key=str)
    return sorted(stable_order(items, seed)[:count], key=str)
