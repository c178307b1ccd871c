"""The training loop on a tiny model: losses, queue writes, exact resume, cancel, pause."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from test_training_helpers import image_set, tiny_model

import squid_core
from squid_core.scoring.calibration import run_model
from squid_core.training.callbacks import TrainingCallbacks, TrainingControl
from squid_core.training.checkpoint import load_checkpoint
from squid_core.training.config import TrainConfig
from squid_core.training.trainer import CHECKPOINT_NAME, TrainingData, train

torch.set_num_threads(1)


def data() -> TrainingData:
    return TrainingData(train=image_set(24, seed=0), val=image_set(6, 6, seed=5))


def cfg(**kw) -> TrainConfig:
    base = dict(preset="tiny", epochs=2, batch_size=8, patience=0, seed=1)
    base.update(kw)
    return TrainConfig(**base)


class Recorder(TrainingCallbacks):
    def __init__(self, cancel_after_epoch: int | None = None, control=None):
        self.steps, self.epochs, self.samples = [], [], 0
        self.cancel_after_epoch, self.control = cancel_after_epoch, control

    def on_step(self, info):
        self.steps.append(info)

    def on_samples(self, epoch, inputs, recons):
        self.samples += 1
        assert inputs.shape == recons.shape

    def on_epoch_end(self, info):
        self.epochs.append(info)
        if info.epoch == self.cancel_after_epoch:
            self.control.cancel()


def test_losses_finite_and_queue_written_after_generator_steps(tmp_path):
    model = tiny_model()
    queue = model.generator.inpaint.queue
    slots0 = queue.slots.clone()
    rec = Recorder()
    res = train(model, data(), cfg(epochs=1, max_steps=3), out_path=None, callbacks=rec)
    assert res.status == "max_steps" and res.global_step == 3
    g_steps = [s for s in rec.steps if "g" in s.losses]
    assert len(g_steps) == 2  # steps 0 and 2 with n_critic = 2
    for s in rec.steps:
        assert all(np.isfinite(v) for v in s.losses.values())
    # two generator steps of 8 images each, 10 slots: pointer at 16 % 10
    assert queue.pointer.tolist() == [6] * queue.num_positions
    assert not torch.equal(queue.slots.cpu(), slots0)
    assert rec.samples == 1  # validation ran on the partial epoch


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    full = train(tiny_model(), data(), cfg(), out_path=None, checkpoint_dir=tmp_path / "a")
    assert full.status == "completed"

    control = TrainingControl()
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"previous model")
    first = train(tiny_model(), data(), cfg(), out_path=out, checkpoint_dir=tmp_path / "b",
                  callbacks=Recorder(cancel_after_epoch=0, control=control), control=control)
    assert first.status == "cancelled" and first.epochs_done == 1
    assert out.read_bytes() == b"previous model"  # cancel never touches the output
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME, restore_rng=False)["epoch"] == 1

    torch.manual_seed(123)  # resume must not depend on the caller's RNG state
    resumed = train(tiny_model(seed=9), data(), cfg(), out_path=out,
                    checkpoint_dir=tmp_path / "b", resume=tmp_path / "b" / CHECKPOINT_NAME)
    assert resumed.status == "completed" and resumed.global_step == full.global_step
    a = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME, restore_rng=False)
    b = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME, restore_rng=False)
    for part in ("generator", "discriminator"):
        for k, v in a[part].items():
            assert torch.equal(v, b[part][k]), f"{part}.{k} differs after resume"
    assert a["history"][-1]["losses"] == b["history"][-1]["losses"]

    # The written model file loads, is calibrated and scores.
    model = squid_core.load_model(out)
    assert model.metadata["calibration"]["n_images"] == 24
    assert model.metadata["default_operating_point"] == "balanced"
    assert model.heatmap_mean is not None and tuple(model.heatmap_mean.shape) == (32, 32)
    logits = run_model(model, [image_set(4).batch([0, 1, 2, 3])]).logits
    assert logits.shape == (4,) and np.isfinite(logits).all()


def test_pause_blocks_until_resumed():
    control = TrainingControl()
    resumed_at = []

    class Pauser(TrainingCallbacks):
        def on_step(self, info):
            if info.global_step == 1:
                control.pause()
                threading.Timer(0.2, lambda: (resumed_at.append(1), control.resume())).start()

    res = train(tiny_model(), data(), cfg(epochs=1, max_steps=2), out_path=None,
                callbacks=Pauser(), control=control)
    assert res.status == "max_steps" and resumed_at == [1]


def test_too_little_data_is_an_error():
    with pytest.raises(ValueError):
        train(tiny_model(), TrainingData(train=image_set(3)), cfg(), out_path=None)


def test_bf16_channels_last_step_is_finite():
    rec = Recorder()
    res = train(tiny_model(), data(), cfg(epochs=1, max_steps=2, bf16=True, channels_last=True),
                out_path=None, callbacks=rec)
    assert res.status == "max_steps"
    assert all(np.isfinite(v) for s in rec.steps for v in s.losses.values())


def test_the_best_validation_epochs_weights_are_saved_and_patience_stops_early(tmp_path):
    """Each epoch's weights are recorded as it ends; the model file holds those of the
    epoch with the best validation AUC (not the last), and ``patience`` epochs without
    a gain end the run. An AUC equal to the best (up to float noise) is no gain: in this
    run epoch 3 ties epoch 1's AUC."""
    model = tiny_model(seed=1)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    class Snapshots(TrainingCallbacks):
        def on_epoch_end(self, info):
            snapshots[info.epoch] = {k: v.detach().clone()
                                     for k, v in model.generator.state_dict().items()}

    out = tmp_path / "model.safetensors"
    res = train(model, data(), cfg(epochs=12, patience=2, seed=3), out_path=out,
                checkpoint_dir=tmp_path / "ckpt", callbacks=Snapshots())
    aucs = [h["val_auc"] for h in res.history]
    # The rule, applied to the AUCs the run reports: a gain is more than float noise.
    best, stale = 0, 0
    for epoch, auc in enumerate(aucs[1:], 1):
        best, stale = (epoch, 0) if auc > aucs[best] + 1e-9 else (best, stale + 1)
        if stale == 2:
            break
    assert res.epochs_done == epoch + 1 == best + 3  # two epochs without a gain, then stop
    assert 0 < best < epoch  # neither the first nor the last epoch
    assert any(abs(a - aucs[best]) < 1e-9 for a in aucs[best + 1:])  # the tie is in this run
    assert res.status == "early_stopped" and res.best_epoch == best
    assert res.best_auc == aucs[best]
    saved = squid_core.load_model(out)
    assert saved.metadata["training"]["best_epoch"] == best
    assert saved.metadata["training"]["status"] == "early_stopped"
    last = res.epochs_done - 1
    differs = [k for k, v in snapshots[best].items() if not torch.equal(v, snapshots[last][k])]
    assert differs  # the best and the last epoch's weights are not the same
    for key, value in snapshots[best].items():
        assert torch.equal(saved.generator.state_dict()[key], value), key
    kept = torch.load(tmp_path / "ckpt" / "best.pt", weights_only=True)
    assert kept["epoch"] == best and kept["auc"] == aucs[best]
