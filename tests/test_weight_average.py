"""``squid train --ema``: the weights' moving average is what is validated, kept and
written; the live weights keep training; a resumed run continues the average exactly."""

from __future__ import annotations

import pytest
import torch
from test_training_helpers import image_set, tiny_model

from squid_core.training.callbacks import TrainingCallbacks, TrainingControl
from squid_core.training.checkpoint import load_checkpoint
from squid_core.training.config import TrainConfig
from squid_core.training.trainer import BEST_NAME, CHECKPOINT_NAME, TrainingData, train
from squid_core.training.weight_average import WeightAverage

torch.set_num_threads(1)


def data() -> TrainingData:
    return TrainingData(train=image_set(24, seed=0), val=image_set(6, 6, seed=5))


def cfg(**kw) -> TrainConfig:
    base = dict(preset="tiny", epochs=2, batch_size=8, patience=0, seed=1, ema_decay=0.9)
    base.update(kw)
    return TrainConfig(**base)


def test_the_average_follows_the_weights_and_is_applied_only_inside_the_block():
    model = tiny_model()
    ema = WeightAverage(model, 0.5)
    p = next(model.discriminator.parameters())
    start = p.detach().clone()
    with torch.no_grad():
        p.add_(1.0)
    ema.update(model)  # first update: effective decay min(0.5, 1/10) = 0.1
    key = next(k for k in ema.shadow if k.startswith("discriminator."))
    assert torch.allclose(ema.shadow[key], start + 0.9)
    buffers = {k: b.clone() for k, b in model.generator.named_buffers()}
    with ema.applied(model):
        assert torch.allclose(p, start + 0.9)
        for k, b in model.generator.named_buffers():  # the memory stays live
            assert torch.equal(b, buffers[k])
    assert torch.allclose(p, start + 1.0)  # the live weights are back
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, 1.0)


class _Validated(TrainingCallbacks):
    def __init__(self, control=None):
        self.aucs, self.control = [], control

    def on_epoch_end(self, info):
        self.aucs.append(info.val_auc)
        if self.control is not None:
            self.control.cancel()


def test_best_weights_are_the_average_and_a_resumed_run_continues_it_exactly(tmp_path):
    full = train(tiny_model(), data(), cfg(), out_path=None, checkpoint_dir=tmp_path / "a")
    assert full.status == "completed"
    a = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME, restore_rng=False)
    assert a["ema"]["updates"] == full.global_step
    # The live weights differ from their average.
    key = next(iter(k for k in a["discriminator"] if k.endswith("weight")))
    assert not torch.equal(a["discriminator"][key], a["ema"]["shadow"][f"discriminator.{key}"])

    control = TrainingControl()
    first = train(tiny_model(), data(), cfg(), out_path=None, checkpoint_dir=tmp_path / "b",
                  callbacks=_Validated(control), control=control)
    assert first.status == "cancelled"
    resumed = train(tiny_model(seed=9), data(), cfg(), out_path=None,
                    checkpoint_dir=tmp_path / "b", resume=tmp_path / "b" / CHECKPOINT_NAME)
    assert resumed.global_step == full.global_step
    b = load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME, restore_rng=False)
    assert b["ema"]["updates"] == a["ema"]["updates"]
    for k, v in a["ema"]["shadow"].items():
        assert torch.equal(v, b["ema"]["shadow"][k]), f"average of {k} differs after resume"
    assert [h["val_auc"] for h in a["history"]] == [h["val_auc"] for h in b["history"]]


def test_what_is_kept_as_best_is_the_average(tmp_path):
    one = train(tiny_model(), data(), cfg(epochs=1), out_path=None, checkpoint_dir=tmp_path)
    assert one.best_epoch == 0  # the only validated epoch
    last = load_checkpoint(tmp_path / CHECKPOINT_NAME, restore_rng=False)
    best = torch.load(tmp_path / BEST_NAME, map_location="cpu", weights_only=True)
    for k, v in best["discriminator"].items():
        name = f"discriminator.{k}"
        if name in last["ema"]["shadow"]:  # parameters: the average
            assert torch.equal(v, last["ema"]["shadow"][name])
        else:  # buffers: the live network's
            assert torch.equal(v, last["discriminator"][k])
    assert any(not torch.equal(best["discriminator"][k], last["discriminator"][k])
               for k in best["discriminator"])


def test_without_validation_the_model_written_holds_the_average(tmp_path):
    model = tiny_model()
    res = train(model, TrainingData(train=image_set(24, seed=0)), cfg(epochs=1),
                out_path=None, checkpoint_dir=tmp_path)
    ck = load_checkpoint(tmp_path / CHECKPOINT_NAME, restore_rng=False)
    for k, p in res.model.discriminator.named_parameters():
        assert torch.allclose(p.detach().cpu(), ck["ema"]["shadow"][f"discriminator.{k}"])
