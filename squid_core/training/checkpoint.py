"""Atomic training checkpoints that never unpickle arbitrary objects.

A checkpoint is one ``torch.save`` file whose content is only tensors and plain
containers (dict, list, tuple, str, int, float, bool, None). It is loaded with
``weights_only=True``, so opening a checkpoint from elsewhere cannot run code.

Writing goes to a temporary file in the same folder, is flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX and Windows) and the
folder is fsynced: a crash leaves either the old or the new checkpoint, never a
half-written one. A write that fails (a full or read-only disk) raises
:class:`CheckpointWriteError`, which names the checkpoint and the reason; the earlier
checkpoint of that name is left as it was and no temporary file remains.

The random states of Python, NumPy and torch (CPU and, where present, CUDA) are
part of a checkpoint, so a resumed run draws the same batches, augmentations and
masks as an uninterrupted one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from squid_core.atomic_file import FileWriteError, atomic_output, find_os_error

__all__ = [
    "CheckpointWriteError", "atomic_torch_save", "save_checkpoint", "load_checkpoint",
    "rng_state", "set_rng_state",
]


class CheckpointWriteError(FileWriteError):
    """A checkpoint could not be written (disk full, read-only...); the earlier one is kept."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path`` via temp file + fsync + ``os.replace``.

    Raises :class:`CheckpointWriteError` when the file cannot be written.
    """
    try:
        with atomic_output(path) as handle:
            torch.save(obj, handle)
    except (OSError, RuntimeError) as exc:
        # torch.save reports a failed write as RuntimeError("... unexpected pos ..."),
        # with the OSError (e.g. ENOSPC) as its context.
        cause = find_os_error(exc)
        if cause is None:
            raise
        raise CheckpointWriteError.from_os_error(path, cause, "checkpoint") from exc


def rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch random states as tensors/plain data."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, content: dict[str, Any]) -> None:
    """Write ``content`` (tensors and plain containers only) atomically, with RNG states."""
    atomic_torch_save({**content, "rng": rng_state(), "checkpoint_version": 1}, path)


def load_checkpoint(path: str | Path, restore_rng: bool = True) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) onto the CPU; restore RNG states."""
    content = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(content, dict) or content.get("checkpoint_version") != 1:
        raise ValueError(f"{path}: not a SQUID Viewer training checkpoint")
    if restore_rng:
        set_rng_state(content["rng"])
    return content
