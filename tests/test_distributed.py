"""Distributed training: 2 CPU processes with gloo against a single-process run.

Each spawned rank trains the tiny model (32 x 32 images) for a few steps and saves,
after every step, its memory queues; at the end its weights. The parent checks that
the queues are identical on both ranks after every step, that with SyncBatchNorm on
and augmentation and masked shortcuts off the weights equal those of a single-process
run with the same global batch and seed, that only rank 0 writes files, and that a
distributed run resumed from its checkpoint ends exactly where an uninterrupted one
does.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_training_helpers import TINY, image_set

import squid_core
from squid_core.model.conv_blocks import ConvNorm
from squid_core.training.callbacks import TrainingCallbacks
from squid_core.training.config import TrainConfig
from squid_core.training.trainer import CHECKPOINT_NAME, TrainingData, train

torch.set_num_threads(1)

# 16 queue slots = two global batches of 8: the FIFO always holds whole batches, so a
# run whose global batch is gathered in another order holds the same set of rows.
# ratio 1.0: no random masked shortcuts (the ranks' masks would differ).
# No decoder memory matrices: freshly initialised, their top-k read sees near-uniform
# softmax weights (ties within float32 rounding), so the different summation order of
# SyncBatchNorm flips which slots survive and moves weights by a whole Adam step;
# measured: the teacher decoder then differs by ~lr after one step, while everything
# else agrees to ~1e-5. (The memory-queue read keeps its top-k here.)
EXACT = dataclasses.replace(TINY, num_slots=16, ratio=1.0, decoder_memory_ratio=1.0,
                            decoder_memory=(None, None))
GLOBAL_BATCH = 8
TOL = 1e-4


def _data() -> TrainingData:
    return TrainingData(train=image_set(24, seed=0), val=image_set(6, 6, seed=5))


def _exact_cfg(**kw) -> TrainConfig:
    # lr 1e-3 so that any real difference in the gradients shows far above TOL.
    base = dict(preset="tiny", epochs=1, batch_size=GLOBAL_BATCH, patience=0, seed=3,
                augment=False, lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def _model(config, freeze_pre_bn_bias: bool = False):
    torch.manual_seed(0)
    model = squid_core.build_model(config)
    if freeze_pre_bn_bias:
        # A conv bias followed by BatchNorm has an exactly zero gradient; what autograd
        # computes is rounding noise, which Adam scales up to steps of size lr. Frozen
        # in both runs, they stop adding noise that says nothing about distribution.
        for m in model.modules():
            if (isinstance(m, ConvNorm) and isinstance(m.norm, torch.nn.BatchNorm2d)
                    and m.conv.bias is not None):
                m.conv.bias.requires_grad_(False)
    return model


class _QueueRecorder(TrainingCallbacks):
    def __init__(self, model):
        self.queue = model.generator.inpaint.queue
        self.steps = []

    def on_step(self, info):
        self.steps.append((self.queue.slots.clone(), self.queue.pointer.clone()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, job: dict) -> None:
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    from squid_core.training.distributed import init_process_group, shutdown

    ctx = init_process_group(rank, world, rank, torch.device("cpu"), backend="gloo",
                             sync_bn=job["sync_bn"], timeout_minutes=2)
    try:
        model = _model(job["config"], job.get("freeze", False))
        rec = _QueueRecorder(model)
        mine = Path(root) / f"rank{rank}"  # each rank is told its own paths: only 0 may write
        resume = job.get("resume")
        res = train(model, _data(), TrainConfig.from_dict(job["cfg"]),
                    out_path=mine / "model.safetensors", checkpoint_dir=mine / "ckpt",
                    resume=resume,
                    callbacks=rec, dist=ctx)
        torch.save({
            "queues": rec.steps,
            "generator": model.generator.state_dict(),
            "discriminator": model.discriminator.state_dict(),
            "global_step": res.global_step,
        }, Path(root) / f"result{rank}.pt")
    finally:
        shutdown()


def _spawn(root: Path, job: dict, world: int = 2) -> list[dict]:
    root.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(world, _free_port(), str(root), job), nprocs=world, join=True)
    return [torch.load(root / f"result{r}.pt", weights_only=True) for r in range(world)]


def _state(model) -> dict[str, torch.Tensor]:
    return {**{f"generator.{k}": v for k, v in model.generator.state_dict().items()},
            **{f"discriminator.{k}": v for k, v in model.discriminator.state_dict().items()}}


def _same_rows(a: torch.Tensor, b: torch.Tensor, tol: float) -> bool:
    """Per position, the rows of a and b match one to one (order ignored)."""
    for pa, pb in zip(a, b, strict=True):
        dist = torch.cdist(pa.double(), pb.double(), p=float("inf"))
        nearest = dist.argmin(dim=1)
        if len(set(nearest.tolist())) != len(pa) or dist.min(dim=1).values.max() > tol:
            return False
    return True


@pytest.fixture(scope="module")
def exact_runs(tmp_path_factory):
    """A 2-rank SyncBN run and a single-process run of one epoch (3 steps)."""
    root = tmp_path_factory.mktemp("dist")
    cfg = _exact_cfg()
    ranks = _spawn(root, {"config": EXACT, "cfg": cfg.to_dict(), "sync_bn": True, "freeze": True})
    single = _model(EXACT, freeze_pre_bn_bias=True)
    init = {k: v.clone() for k, v in _state(single).items()}
    res = train(single, _data(), cfg, out_path=None)
    assert res.global_step == 3
    return root, ranks, single, init


def test_queues_identical_on_both_ranks_after_every_step(exact_runs):
    _, (r0, r1), _, _ = exact_runs
    assert len(r0["queues"]) == len(r1["queues"]) == 3
    for step, ((s0, p0), (s1, p1)) in enumerate(zip(r0["queues"], r1["queues"], strict=True)):
        assert torch.equal(s0, s1) and torch.equal(p0, p1), f"queues differ after step {step}"
    # steps 0 and 2 wrote the global batch of 8 each
    assert r0["queues"][-1][1].tolist() == [0] * EXACT.num_positions
    for part in ("generator", "discriminator"):
        for k, v in r0[part].items():
            if "running_" not in k:  # parameters (queues included) agree exactly
                assert torch.equal(v, r1[part][k]), f"{part}.{k} differs between ranks"


def test_weights_equal_single_process_run(exact_runs):
    _, (r0, _), single, init = exact_runs
    ref = _state(single)
    dist_state = {**{f"generator.{k}": v for k, v in r0["generator"].items()},
                  **{f"discriminator.{k}": v for k, v in r0["discriminator"].items()}}
    assert dist_state.keys() == ref.keys()
    moved = 0.0
    for k, v in ref.items():
        if k.endswith("queue.slots"):
            assert _same_rows(dist_state[k], v, TOL), f"{k}: queue rows differ as sets"
            continue
        if v.is_floating_point():
            diff = (dist_state[k] - v).abs().max().item()
            assert diff <= TOL, f"{k} differs by {diff:.2e}"
            moved = max(moved, (v - init[k]).abs().max().item())
        else:
            assert torch.equal(dist_state[k], v), k
    assert moved > 10 * TOL  # the comparison is not trivially satisfied


def test_only_rank_zero_writes_files(exact_runs):
    root = exact_runs[0]
    assert (root / "rank0" / "model.safetensors").is_file()
    assert (root / "rank0" / "ckpt" / CHECKPOINT_NAME).is_file()
    assert not (root / "rank1").exists()
    model = squid_core.load_model(root / "rank0" / "model.safetensors")
    assert model.metadata["training"]["world_size"] == 2
    ck = torch.load(root / "rank0" / "ckpt" / CHECKPOINT_NAME, weights_only=True)
    assert ck["world_size"] == 2 and len(ck["rng_ranks"]) == 2


def test_resumed_distributed_run_matches_uninterrupted(tmp_path):
    """With augmentation and masked shortcuts on (per-rank random streams), no SyncBN."""
    cfg = dict(preset="tiny", epochs=2, batch_size=GLOBAL_BATCH, patience=0, seed=4)
    full = _spawn(tmp_path / "full", {"config": TINY, "cfg": cfg, "sync_bn": False})
    _spawn(tmp_path / "part", {"config": TINY, "cfg": {**cfg, "epochs": 1}, "sync_bn": False})
    ckpt = tmp_path / "part" / "rank0" / "ckpt" / CHECKPOINT_NAME
    resumed = _spawn(tmp_path / "part", {"config": TINY, "cfg": cfg, "sync_bn": False,
                                         "resume": str(ckpt)})
    assert resumed[0]["global_step"] == full[0]["global_step"] == 6
    for rank in (0, 1):
        for part in ("generator", "discriminator"):
            for k, v in full[rank][part].items():
                if rank > 0 and "running_" in k:
                    # Without SyncBN each rank's running statistics are its own shard's
                    # estimate; a resume gives every rank rank 0's (the saved ones).
                    continue
                assert torch.equal(v, resumed[rank][part][k]), f"rank {rank} {part}.{k}"


def _torchrun_train(tmp_path: Path, *extra: str, timeout: float):
    """``torchrun --nproc_per_node=2 -m squid_core train`` (compact preset, 12 tiny PNGs,
    batch 4, CPU) with ``extra`` arguments; returns (completed process, model path)."""
    import subprocess
    import sys

    from test_training_helpers import write_pngs

    normal = write_pngs(tmp_path / "normal", 12, seed=0)
    abnormal = write_pngs(tmp_path / "abnormal", 4, seed=1, abnormal=True)
    out = tmp_path / "m.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "squid_core", "train", "--preset", "compact", "--normal", str(normal),
           "--val-count", "4", "--val-abnormal", str(abnormal), "--batch-size", "4",
           "--device", "cpu", "--quiet", "--out", str(out), *extra]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc, out


def test_torchrun_cli_trains_with_two_processes(tmp_path):
    """``torchrun --standalone --nproc_per_node=2 -m squid_core train`` on the CPU."""
    proc, out = _torchrun_train(tmp_path, "--epochs", "1", "--sync-bn", timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("wrote") == 1  # one summary line: rank 0's
    model = squid_core.load_model(out)
    training = model.metadata["training"]
    assert training["world_size"] == 2 and training["sync_bn"] and training["global_step"] == 2
    assert (tmp_path / "m.ckpt" / CHECKPOINT_NAME).is_file()


def test_torchrun_stops_promptly_when_rank_zero_cannot_write_its_checkpoint(tmp_path,
                                                                            tiny_filesystem):
    """Rank 0 meets a full disk while the other rank waits at the checkpoint barrier: the
    run must end at once with rank 0's one-line message (torchrun stops the waiting rank),
    not hang until the collective timeout, and leave no partial checkpoint behind."""
    import time

    t0 = time.monotonic()
    proc, out = _torchrun_train(tmp_path, "--epochs", "2", "--dist-timeout", "10",
                                "--checkpoint-dir", str(tiny_filesystem / "ckpt"), timeout=300)
    seconds = time.monotonic() - t0
    assert proc.returncode != 0
    assert seconds < 240, f"took {seconds:.0f} s: the waiting rank was not stopped"
    message = proc.stdout + proc.stderr
    assert "checkpoint" in message.lower() and "No space left on device" in message
    # The other rank says in one line why it stopped, without a traceback of its own.
    assert "(rank 1): stopped: another process of this run failed" in message
    assert "[rank1]: Traceback" not in message
    assert not out.exists()
    assert [p.name for p in (tiny_filesystem / "ckpt").iterdir()] == []  # nothing half-written
