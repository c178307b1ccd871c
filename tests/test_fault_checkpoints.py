"""A checkpoint that cannot be written stops training with a clear error; earlier ones stay.

The faults are real (fixtures in ``conftest.py``): after the first epoch's checkpoints
are on a small tmpfs, a callback fills that disk (the next write meets ENOSPC inside
``torch.save``) or remounts it read-only (EROFS when the temporary file is created).
Training must not go on without its checkpoints: it raises CheckpointWriteError,
which names the checkpoint and the reason, and ``last.pt``/``best.pt`` of the first
epoch are byte-identical and loadable, with no temporary file left.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_training_helpers import image_set, tiny_model

from squid_core.training.callbacks import TrainingCallbacks
from squid_core.training.checkpoint import CheckpointWriteError, load_checkpoint, save_checkpoint
from squid_core.training.config import TrainConfig
from squid_core.training.trainer import BEST_NAME, CHECKPOINT_NAME, TrainingData, train

torch.set_num_threads(1)


class FaultAfterFirstEpoch(TrainingCallbacks):
    """Keep the first epoch's checkpoints, then break the disk they are on."""

    def __init__(self, folder: Path, fault: Callable[[Path], object]) -> None:
        self.folder, self.fault = folder, fault
        self.kept: dict[str, bytes] = {}
        self.epochs_ended = 0

    def on_epoch_end(self, info) -> None:
        self.epochs_ended += 1
        if info.epoch == 0:
            self.kept = {p.name: p.read_bytes() for p in self.folder.glob("*.pt")}
            self.fault(self.folder.parent)


def _train(ckpt: Path, callbacks: TrainingCallbacks) -> None:
    data = TrainingData(train=image_set(8, seed=0), val=image_set(4, 4, seed=5))
    cfg = TrainConfig(preset="tiny", epochs=3, batch_size=8, patience=0, seed=1)
    train(tiny_model(), data, cfg, out_path=None, checkpoint_dir=ckpt, callbacks=callbacks)


def _assert_earlier_checkpoints_intact(ckpt: Path, kept: dict[str, bytes]) -> None:
    assert sorted(kept) == sorted([BEST_NAME, CHECKPOINT_NAME])
    assert sorted(p.name for p in ckpt.iterdir()) == sorted(kept)  # no *.tmp left
    for name, data in kept.items():
        assert (ckpt / name).read_bytes() == data, name
    assert load_checkpoint(ckpt / CHECKPOINT_NAME, restore_rng=False)["epoch"] == 1
    best = torch.load(ckpt / BEST_NAME, map_location="cpu", weights_only=True)
    assert best["epoch"] == 0 and "generator" in best


def _assert_clear(err: CheckpointWriteError, ckpt: Path, reason: str) -> None:
    message = str(err)
    assert message.startswith("cannot write the checkpoint "), message
    assert Path(err.filename).parent == ckpt, message
    assert err.filename in message and Path(err.filename).name in (BEST_NAME, CHECKPOINT_NAME)
    assert reason in message and "earlier file is unchanged" in message, message
    assert "unexpected pos" not in message  # torch's own wording of a failed write


@pytest.mark.parametrize("fault, code, reason", [
    ("full", errno.ENOSPC, "No space left on device"),
    ("read-only", errno.EROFS, "Read-only file system"),
])
def test_disk_fault_during_training_stops_with_a_clear_error(
        mount_tmpfs, fill_filesystem, remount_read_only, fault, code, reason) -> None:
    disk = mount_tmpfs("ckdisk", "2m")  # holds one epoch's checkpoints (~0.9 MB)
    ckpt = disk / "ckpt"
    breaks = {"full": fill_filesystem, "read-only": remount_read_only}[fault]
    watch = FaultAfterFirstEpoch(ckpt, lambda _: breaks(disk))
    with pytest.raises(CheckpointWriteError) as info:
        _train(ckpt, watch)
    assert info.value.errno == code
    _assert_clear(info.value, ckpt, reason)
    assert watch.epochs_ended == 1  # training stopped at the failed write, did not go on
    _assert_earlier_checkpoints_intact(ckpt, watch.kept)


def test_save_checkpoint_on_a_full_disk_keeps_the_earlier_one(tiny_filesystem: Path) -> None:
    """The unit under the trainer: a checkpoint that no longer fits (old + new > 256 KiB)."""
    target = tiny_filesystem / CHECKPOINT_NAME
    save_checkpoint(target, {"weights": torch.zeros(8_000), "epoch": 1})  # ~32 KB
    before = target.read_bytes()
    with pytest.raises(CheckpointWriteError) as info:
        save_checkpoint(target, {"weights": torch.zeros(60_000), "epoch": 2})  # ~240 KB
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == (f"cannot write the checkpoint {target}: No space left on "
                               "device; the earlier file is unchanged")
    assert target.read_bytes() == before
    assert load_checkpoint(target, restore_rng=False)["epoch"] == 1
    assert [p.name for p in tiny_filesystem.iterdir()] == [CHECKPOINT_NAME]
