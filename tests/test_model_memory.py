"""Memory-queue FIFO writes, training outputs, losses and batch-size independence."""

from __future__ import annotations

import torch

from squid_core.model import SquidConfig, build_model
from squid_core.model.losses import reconstruction_losses
from squid_core.model.memory_queue import MemoryQueue

SMALL = SquidConfig(features_root=4, memory_channel=256, num_slots=8, mem_num_slots=8,
                    shrink_thres=3)


def test_queue_write_wraps_around_and_advances_pointer() -> None:
    q = MemoryQueue(num_positions=2, num_slots=5, dim=3, top_k=2)
    vals = torch.arange(1, 1 + 3 * 2 * 3, dtype=torch.float32).reshape(3, 2, 3)
    q.write(vals)
    assert q.pointer.tolist() == [3, 3]
    assert torch.equal(q.slots[:, :3], vals.transpose(0, 1))
    more = -torch.arange(1, 1 + 4 * 2 * 3, dtype=torch.float32).reshape(4, 2, 3)
    q.write(more)  # slots 3, 4, then wrap to 0, 1
    assert q.pointer.tolist() == [2, 2]
    assert torch.equal(q.slots[:, 3], more[0]) and torch.equal(q.slots[:, 4], more[1])
    assert torch.equal(q.slots[:, 0], more[2]) and torch.equal(q.slots[:, 1], more[3])
    assert torch.equal(q.slots[:, 2], vals[2])  # the oldest survivor


def test_queue_write_larger_than_queue_keeps_newest() -> None:
    q = MemoryQueue(num_positions=1, num_slots=4, dim=1, top_k=1)
    q.write(torch.arange(10, dtype=torch.float32).reshape(10, 1, 1))
    assert q.pointer.tolist() == [2]
    # FIFO order from the pointer: the four newest values 6, 7, 8, 9
    order = [(2 + i) % 4 for i in range(4)]
    assert q.slots[0, order, 0].tolist() == [6.0, 7.0, 8.0, 9.0]


def test_forward_never_writes_memory_and_write_memory_does() -> None:
    torch.manual_seed(0)
    model = build_model(SMALL)
    gen = model.generator.train()
    before = gen.inpaint.queue.slots.clone()
    x = torch.rand(3, 1, 128, 128)
    out = gen(x)
    assert torch.equal(gen.inpaint.queue.slots, before)
    assert out["queue_features"].shape == (3, 4, 256) and not out["queue_features"].requires_grad
    gen.write_memory(out)
    assert gen.inpaint.queue.pointer.tolist() == [3, 3, 3, 3]
    assert torch.equal(gen.inpaint.queue.slots[:, :3], out["queue_features"].transpose(0, 1))


def test_training_outputs_losses_and_gradients() -> None:
    torch.manual_seed(0)
    gen = build_model(SMALL).generator.train()
    x = torch.rand(2, 1, 128, 128)
    out = gen(x)
    assert len(out["student_features"]) == len(out["teacher_features"]) == 4
    losses = reconstruction_losses(out, x)
    assert set(losses) == {"student", "teacher", "distill"}
    (10 * losses["student"] + 0.01 * losses["teacher"] + 0.001 * losses["distill"]).backward()
    assert gen.decoder.memories[2].slots.grad is not None
    assert gen.encoder.stem.entry.conv.weight.grad is not None
    assert gen.teacher.ups[0].entry.conv.weight.grad is not None


def test_teacher_is_stop_gradient() -> None:
    gen = build_model(SMALL).generator.train()
    out = gen(torch.rand(2, 1, 128, 128))
    torch.nn.functional.mse_loss(out["teacher_recon"], torch.zeros_like(out["teacher_recon"])).backward()
    assert gen.encoder.stem.entry.conv.weight.grad is None


def test_eval_results_do_not_depend_on_batch_size() -> None:
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    x = torch.rand(5, 1, 128, 128)
    with torch.inference_mode():
        full = model.generator(x)
        single = [model.generator(x[i:i + 1]) for i in range(5)]
        logits = model.discriminator(full["recon"])
    for i in range(5):
        assert torch.allclose(full["recon"][i], single[i]["recon"][0], atol=1e-5)
        assert torch.allclose(full["embedding"][i], single[i]["embedding"][0], atol=1e-5)
    assert logits.shape == (5, 1)
