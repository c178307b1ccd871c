"""Atomic writes leave earlier files intact when the disk is full or the write fails.

``tiny_filesystem`` (a real 256 KiB tmpfs) comes from ``conftest.py``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import squid_core
from squid_core.atomic_file import atomic_output
from squid_core.model_file import ModelFileError
from tests.test_training_helpers import TINY


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "record.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError), atomic_output(target) as handle:
        handle.write(b"new, partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_successful_write_replaces_and_is_readable(tmp_path: Path) -> None:
    target = tmp_path / "record.bin"
    target.write_bytes(b"old")
    with atomic_output(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_mode & 0o777 == 0o644


def test_model_save_on_a_full_disk_fails_clearly_and_keeps_the_earlier_model(tiny_filesystem: Path) -> None:
    model = squid_core.build_model(TINY)
    target = tiny_filesystem / "model.safetensors"
    model.save(target)  # small enough to fit
    before = target.read_bytes()
    big = squid_core.build_model("compact")  # ~47 MB: cannot fit in 256 KiB
    with pytest.raises(ModelFileError, match="cannot save the model"):
        big.save(target)
    assert target.read_bytes() == before
    assert _leftovers(tiny_filesystem) == []
