"""The SQUID training loop: epochs of GAN steps, validation, checkpoints, calibration.

Usage (what ``squid train`` and the GUI wizard do)::

    model = squid_core.build_model("compact")
    data = TrainingData(train=load_image_set(files, (128, 128)), val=val_set)
    result = train(model, data, TrainConfig(epochs=50), out_path="my.safetensors",
                   checkpoint_dir="ckpt", callbacks=TqdmCallbacks())

Each epoch: shuffled batches (or on-the-fly DigitAnatomy grids) with random affine
augmentation, one :func:`~squid_core.training.gan_step.gan_step` per batch, the
generator's cosine schedule stepped, validation AUC on the labelled split, the best
weights kept, an atomic checkpoint, early stopping after ``patience`` epochs without
improvement. After the last epoch the best weights are calibrated on the training
normals, operating points are chosen on the validation split, and the model file is
written atomically. A cancelled run writes nothing but keeps its last checkpoint.

Distributed runs (``torchrun``; pass ``dist``, see
:mod:`squid_core.training.distributed`) train with DistributedDataParallel on
per-rank shares of each global batch; only rank 0 validates and writes
checkpoints and the model file, and every decision that ends an epoch or the run
is taken from rank 0's (or all ranks' reduced) values, so all ranks stay in step.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from squid_core.model.discriminator import PER_IMAGE
from squid_core.scoring.standardise import attach_reference, match_batch, reference_of
from squid_core.training.augment import augment_batch
from squid_core.training.callbacks import EpochInfo, StepInfo, TrainingCallbacks, TrainingControl
from squid_core.training.checkpoint import atomic_torch_save, load_checkpoint, save_checkpoint
from squid_core.training.config import TrainConfig
from squid_core.training.datasets import ImageSet, RejectedImage
from squid_core.training.digit_anatomy import NormalGridStream
from squid_core.training.finalize import finalize_model, validation_logits
from squid_core.training.gan_step import Optimisers, gan_step
from squid_core.training.weight_average import WeightAverage

__all__ = [
    "TrainingData", "TrainResult", "make_optimisers", "seed_everything", "train", "CHECKPOINT_NAME",
]

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.pt"
#: A validation AUC must beat the best by more than this to count as a gain: the same
#: ranking computed again differs in the last bits (0.6666666666666667 vs ...66).
AUC_GAIN_EPS = 1e-9


@dataclass
class TrainingData:
    """What a run learns from and is validated on.

    Exactly one of ``train`` (cached normal images) and ``stream`` (normal grids drawn
    on the fly) is set. ``val`` is the labelled validation set (0 normal, 1 abnormal);
    ``calibration`` the normals used for mu/sigma (default: ``train``).
    """

    train: ImageSet | None = None
    stream: NormalGridStream | None = None
    val: ImageSet | None = None
    calibration: ImageSet | None = None
    rejected: list[RejectedImage] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def steps_per_epoch(self, cfg: TrainConfig) -> int:
        n = len(self.train) if self.train is not None else cfg.images_per_epoch
        return max(1, n // cfg.batch_size)


@dataclass
class TrainResult:
    """How a run ended: "completed", "early_stopped", "max_steps", "time_limit" or "cancelled"."""

    status: str
    epochs_done: int
    global_step: int
    best_auc: float | None
    best_epoch: int | None
    history: list[dict[str, Any]]
    out_path: Path | None
    checkpoint_path: Path | None
    model: Any = None
    seconds: float = 0.0


def make_optimisers(model, cfg: TrainConfig) -> Optimisers:
    """Adam for both nets (paper betas); the generator's with eps/decay and a cosine schedule.

    The fused Adam kernel (one pass over all parameters instead of several per tensor)
    is used where torch offers it for the parameters' device: on CPU it cuts the
    optimiser's share of a step (about 10% for the 53 M-parameter DigitAnatomy
    generator) without changing the update rule.
    """
    gen_params = list(model.generator.parameters())
    fused = _fused_ok(gen_params)
    gen = torch.optim.Adam(
        gen_params, lr=cfg.lr, betas=cfg.betas, eps=cfg.gen_eps,
        weight_decay=cfg.gen_weight_decay, fused=fused,
    )
    disc = torch.optim.Adam(
        model.discriminator.parameters(), lr=cfg.lr, betas=cfg.betas, fused=fused
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        gen, T_max=cfg.t_max, eta_min=cfg.lr * cfg.lr_min_factor
    )
    return Optimisers(gen, disc, sched)


def _fused_ok(params: list[torch.Tensor]) -> bool | None:
    """True when torch's fused Adam supports these parameters, else None (default path)."""
    try:
        probe = torch.zeros(1, device=params[0].device, requires_grad=True)
        torch.optim.Adam([probe], fused=True)
    except (RuntimeError, ValueError, TypeError):
        return None
    return True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch. Call it before ``build_model`` too: torch's
    default seed differs between processes, so unseeded initial weights do."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class _Run:
    """Mutable state of one training run (what a checkpoint captures)."""

    def __init__(self) -> None:
        self.epoch = 0
        self.global_step = 0
        self.best_auc: float | None = None
        self.best_epoch: int | None = None
        self.stale_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.best_state: dict[str, dict[str, torch.Tensor]] | None = None
        #: The weights' moving average (``cfg.ema_decay``), or None.
        self.ema: WeightAverage | None = None


def _checkpoint_content(model, opt: Optimisers, cfg: TrainConfig, run: _Run, data) -> dict:
    return {
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "model_config": model.config.to_dict(),
        "train_config": cfg.to_dict(),
        "generator": model.generator.state_dict(),
        "discriminator": model.discriminator.state_dict(),
        "opt_gen": opt.gen.state_dict(),
        "opt_disc": opt.disc.state_dict(),
        "sched_gen": opt.gen_schedule.state_dict(),
        "epoch": run.epoch,
        "global_step": run.global_step,
        "best_auc": run.best_auc,
        "best_epoch": run.best_epoch,
        "stale_epochs": run.stale_epochs,
        "history": run.history,
        "elapsed": run.elapsed,
        "stream_state": data.stream.state() if data.stream is not None else None,
    }


def _save_dist_checkpoint(path: Path, model, opt, cfg, run: _Run, data, dist) -> None:
    """Rank 0 writes; every rank's RNG and grid-stream states go in (a collective)."""
    from squid_core.training.checkpoint import rng_state

    extra = dist.gather_objects({
        "rng": rng_state(),
        "stream": data.stream.state() if data.stream is not None else None,
    })
    if dist.is_main:
        content = _checkpoint_content(model, opt, cfg, run, data)
        content["world_size"] = dist.world_size
        content["rng_ranks"] = [e["rng"] for e in extra]
        if data.stream is not None:
            content["stream_states"] = [e["stream"] for e in extra]
        save_checkpoint(path, content)
    dist.barrier()  # nobody runs ahead of a checkpoint still being written


def _restore(path: Path, model, opt: Optimisers, data: TrainingData, run: _Run) -> None:
    ck = load_checkpoint(path)  # also restores the RNG states
    if ck["model_config"] != model.config.to_dict():
        raise ValueError(f"{path}: checkpoint was made for a different model configuration")
    model.generator.load_state_dict(ck["generator"])
    model.discriminator.load_state_dict(ck["discriminator"])
    opt.gen.load_state_dict(ck["opt_gen"])
    opt.disc.load_state_dict(ck["opt_disc"])
    opt.gen_schedule.load_state_dict(ck["sched_gen"])
    run.epoch, run.global_step = int(ck["epoch"]), int(ck["global_step"])
    run.best_auc, run.best_epoch = ck["best_auc"], ck["best_epoch"]
    run.stale_epochs, run.history = int(ck["stale_epochs"]), list(ck["history"])
    run.elapsed = float(ck["elapsed"])
    if data.stream is not None and ck["stream_state"] is not None:
        data.stream.set_state(ck["stream_state"])
    if run.ema is not None and ck.get("ema") is not None:
        run.ema.load_state_dict(ck["ema"])
    best = path.parent / BEST_NAME
    if run.best_epoch is not None and best.exists():
        b = torch.load(best, map_location="cpu", weights_only=True)
        run.best_state = {"generator": b["generator"], "discriminator": b["discriminator"]}
    return ck


def _epoch_batches(data: TrainingData, cfg: TrainConfig, steps: int):
    """Yield float32 CPU batches for one epoch (permutation drawn from torch's RNG)."""
    if data.train is not None:
        perm = torch.randperm(len(data.train))
        for i in range(steps):
            yield data.train.batch(perm[i * cfg.batch_size : (i + 1) * cfg.batch_size])
    else:
        assert data.stream is not None
        for _ in range(steps):
            yield torch.from_numpy(data.stream.batch(cfg.batch_size))


def _dist_epoch_batches(data: TrainingData, cfg: TrainConfig, steps: int, dist, epoch: int):
    """This rank's share of each global batch (DistributedSampler / per-rank stream)."""
    from squid_core.training.distributed import epoch_indices, per_rank_batch

    b = per_rank_batch(cfg.batch_size, dist.world_size)
    if data.train is not None:
        idx = epoch_indices(len(data.train), dist, cfg.seed, epoch)
        for i in range(steps):
            yield data.train.batch(idx[i * b : (i + 1) * b])
    else:
        assert data.stream is not None
        for _ in range(steps):
            yield torch.from_numpy(data.stream.batch(b))


def _dist_seed(data: TrainingData, cfg: TrainConfig, dist, salt: int = 0) -> None:
    """Per-rank RNG streams (augmentation, masks, DigitAnatomy grids)."""
    from squid_core.training.distributed import rank_seed

    seed = rank_seed(cfg.seed, dist.rank, salt)
    seed_everything(seed)
    if data.stream is not None:
        data.stream.rng = np.random.default_rng(seed)


def _dist_restore_rng(ck: dict, data: TrainingData, cfg: TrainConfig, dist, run: _Run, callbacks) -> None:
    """Each rank continues its own random streams when the world size is unchanged."""
    from squid_core.training.checkpoint import set_rng_state

    states = ck.get("rng_ranks")
    if states is not None and len(states) == dist.world_size:
        set_rng_state(states[dist.rank])
        if data.stream is not None and ck.get("stream_states") is not None:
            data.stream.set_state(ck["stream_states"][dist.rank])
        return
    # Another world size (or a single-process checkpoint): batches are still those of
    # the sampler's epoch permutation; augmentation/masks get fresh per-rank streams.
    _dist_seed(data, cfg, dist, salt=1 + run.epoch)
    callbacks.on_status(f"checkpoint holds no RNG states for {dist.world_size} processes: "
                        "random augmentation streams re-derived per rank")


def _prepare(x: torch.Tensor, cfg: TrainConfig, device: torch.device,
             reference=None) -> torch.Tensor:
    if cfg.augment:
        x = augment_batch(x, cfg.augment_recipe, cfg.translate, cfg.scale_range)
    if reference is not None:  # the model's intensity standardisation, after augmenting
        x = match_batch(x, reference)
    x = x.to(device, non_blocking=True)
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _validate(model, data: TrainingData, cfg: TrainConfig, device, callbacks, epoch: int):
    if data.val is None or len(data.val) == 0:
        return None, {}
    from squid_core.metrics import auc

    out = validation_logits(model, data.val, cfg, device, keep_images=cfg.samples_per_epoch)
    labels = data.val.labels.numpy()
    val_auc = auc(-out.logits, labels)  # low logit = looks fake = anomalous
    if out.inputs is not None and len(out.inputs):
        callbacks.on_samples(epoch, out.inputs, out.recons)
    metrics = {
        "auc": None if math.isnan(val_auc) else val_auc,
        "logit_normal_mean": float(out.logits[labels == 0].mean()) if np.any(labels == 0) else None,
        "logit_abnormal_mean": float(out.logits[labels == 1].mean()) if np.any(labels == 1) else None,
    }
    return metrics["auc"], metrics


def train(
    model,
    data: TrainingData,
    cfg: TrainConfig,
    *,
    out_path: str | Path | None,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    device: str | torch.device = "cpu",
    callbacks: TrainingCallbacks | None = None,
    control: TrainingControl | None = None,
    dist=None,
) -> TrainResult:
    """Train ``model`` (a fresh or pre-trained SquidModel) and write ``out_path``.

    ``resume`` continues from a checkpoint exactly (weights, optimisers, schedule,
    memory queues and their pointers, RNG states, epoch, best metric). Checkpoints go
    to ``checkpoint_dir/last.pt`` (and the best weights to ``best.pt``) after every
    epoch. Returns a :class:`TrainResult`; on cancel nothing but the checkpoints of
    completed epochs exists, and an existing ``out_path`` is untouched. A checkpoint
    that cannot be written (a full or read-only disk) stops the run rather than train
    on unsaved: :class:`~squid_core.training.checkpoint.CheckpointWriteError` names
    the file and the reason, and the checkpoints written before stay as they were.

    ``dist`` (a :class:`~squid_core.training.distributed.DistContext`, every rank
    calling with the same arguments) trains data-parallel: ``cfg.batch_size`` is the
    global batch. Callbacks get step and epoch events on every rank (front ends show
    them on rank 0); validation samples, checkpoints, the model file and the
    returned model exist on rank 0 only.
    """
    if (data.train is None) == (data.stream is None):
        raise ValueError("give exactly one of data.train and data.stream")
    if data.train is not None and len(data.train) < cfg.batch_size:
        raise ValueError(
            f"{len(data.train)} training images, fewer than one batch of {cfg.batch_size}"
        )
    callbacks = callbacks or TrainingCallbacks()
    control = control or TrainingControl()
    device = torch.device(device)
    main = dist is None or dist.is_main
    world = 1 if dist is None else dist.world_size
    if dist is not None:
        from squid_core.training.distributed import (
            DistributedNets,
            convert_sync_batchnorm,
            per_rank_batch,
        )

        per_rank_batch(cfg.batch_size, world)  # fails early when B does not split
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    # Validation, calibration and the scores of the model written at the end evaluate
    # the discriminator with per-image statistics (the reference's way; see
    # squid_core/model/discriminator.py), also when fine-tuning an older file.
    model.metadata["discriminator_statistics"] = PER_IMAGE
    if cfg.standardise and hasattr(data.train, "images"):  # this run's normals set the reference (the same again on resume)
        attach_reference(model, data.train.images)
    model.generator.to(device).train()
    model.discriminator.to(device).train()
    if cfg.channels_last:
        model.generator.to(memory_format=torch.channels_last)
        model.discriminator.to(memory_format=torch.channels_last)
    if dist is not None and dist.sync_bn:
        convert_sync_batchnorm(model.generator, device)
        convert_sync_batchnorm(model.discriminator, device)
    opt = make_optimisers(model, cfg)
    run = _Run()
    if cfg.ema_decay:
        run.ema = WeightAverage(model, cfg.ema_decay)
    if resume is not None:
        ck = _restore(Path(resume), model, opt, data, run)
        if dist is not None:
            _dist_restore_rng(ck, data, cfg, dist, run, callbacks)
        if run.ema is not None and ck.get("ema") is None:
            callbacks.on_status("the checkpoint has no weight average: it starts from the "
                                "resumed weights")
        del ck
        callbacks.on_status(f"resumed from {resume} at epoch {run.epoch + 1}")
    elif dist is not None:
        _dist_seed(data, cfg, dist)
    else:
        seed_everything(cfg.seed)
    nets = DistributedNets(model, dist) if dist is not None else None

    steps = data.steps_per_epoch(cfg)
    callbacks.on_start({
        "config": cfg.to_dict(), "device": str(device), "steps_per_epoch": steps,
        "world_size": world,
        "start_epoch": run.epoch, "summary": data.summary,
        "rejected": [(str(r.path), r.reason) for r in data.rejected],
    })
    status = "completed"
    t_start = time.perf_counter()
    elapsed0 = run.elapsed
    reference = reference_of(model.metadata)  # None: images as they are (paper recipe)
    while run.epoch < cfg.epochs and status == "completed":
        callbacks.on_epoch_start(run.epoch, steps)
        t_epoch = time.perf_counter()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        n_img = 0
        epoch_complete = False
        batches = (_epoch_batches(data, cfg, steps) if dist is None
                   else _dist_epoch_batches(data, cfg, steps, dist, run.epoch))
        for i, x in enumerate(batches):
            if not control.wait_if_paused():
                if dist is None:
                    status = "cancelled"
                    break
                control_stop = True  # agreed below, after this (collective) step
            else:
                control_stop = False
            x = _prepare(x, cfg, device, reference)
            losses = gan_step(
                model, x, opt, cfg.weights,
                update_generator=run.global_step % cfg.n_critic == 0, bf16=cfg.bf16,
                nets=nets,
            )
            if dist is not None:  # global means, identical on every rank
                losses, control_stop = dist.reduce_losses(losses, control_stop)
            if run.ema is not None:  # weights are identical on every rank after the step
                run.ema.update(model)
            run.global_step += 1
            n_img += x.shape[0] * world
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            callbacks.on_step(StepInfo(
                run.epoch, i, steps, run.global_step,
                n_img / max(time.perf_counter() - t_epoch, 1e-9), losses,
            ))
            epoch_complete = i == steps - 1
            if dist is not None and control_stop:
                status = "cancelled"
                break
            if cfg.max_steps is not None and run.global_step >= cfg.max_steps:
                status = "max_steps"
                break
        if status == "cancelled" or (dist is None and control.cancelled):
            status = "cancelled"
            break
        for k, v in sums.items():
            if not math.isfinite(v):
                raise FloatingPointError(f"training loss {k!r} is not finite in epoch {run.epoch + 1}")
        opt.gen_schedule.step()
        # With a weight average, what is validated and kept is the average (and the
        # live buffers); training continues from the live weights.
        with run.ema.applied(model) if run.ema is not None else contextlib.nullcontext():
            if dist is None:
                val_auc, val_metrics = _validate(model, data, cfg, device, callbacks, run.epoch)
            else:  # rank 0 validates (eval mode: no collectives); the others wait here
                val = _validate(model, data, cfg, device, callbacks, run.epoch) if main else None
                val_auc, val_metrics = dist.broadcast(val)
            improved = val_auc is not None and (run.best_auc is None
                                                or val_auc > run.best_auc + AUC_GAIN_EPS)
            if improved and main:
                run.best_state = {"generator": _cpu_state(model.generator),
                                  "discriminator": _cpu_state(model.discriminator)}
        if improved:
            run.best_auc, run.best_epoch, run.stale_epochs = val_auc, run.epoch, 0
            if ckpt_dir is not None and main:
                atomic_torch_save({**run.best_state, "epoch": run.epoch, "auc": val_auc},
                                  ckpt_dir / BEST_NAME)
        elif val_auc is not None:
            run.stale_epochs += 1
        seconds = time.perf_counter() - t_epoch
        run.elapsed = elapsed0 + time.perf_counter() - t_start
        if dist is not None:  # rank 0's clock decides the time limit for everyone
            run.elapsed = dist.broadcast(run.elapsed)
        mean_losses = {k: sums[k] / counts[k] for k in sums}
        lr = float(opt.gen.param_groups[0]["lr"])
        run.history.append({
            "epoch": run.epoch, "steps": run.global_step, "losses": mean_losses,
            "val_auc": val_auc, "seconds": seconds, "elapsed": run.elapsed, "lr": lr,
            "complete": epoch_complete,
        })
        run.epoch += 1
        if ckpt_dir is not None and epoch_complete and dist is None:  # a partial epoch is not resumable
            save_checkpoint(ckpt_dir / CHECKPOINT_NAME, _checkpoint_content(model, opt, cfg, run, data))
        elif ckpt_dir is not None and epoch_complete:
            _save_dist_checkpoint(ckpt_dir / CHECKPOINT_NAME, model, opt, cfg, run, data, dist)
        callbacks.on_epoch_end(EpochInfo(
            run.epoch - 1, cfg.epochs, mean_losses, val_auc, val_metrics, run.best_auc,
            run.best_epoch, improved, seconds, run.elapsed, lr,
        ))
        if status == "completed" and cfg.max_seconds and run.elapsed >= cfg.max_seconds:
            status = "time_limit"
            callbacks.on_status(f"time limit: {run.elapsed:.0f} s of training")
        if status == "completed" and cfg.patience and run.stale_epochs >= cfg.patience:
            status = "early_stopped"
            callbacks.on_status(f"early stop: no AUC gain for {cfg.patience} epochs")

    checkpoint = ckpt_dir / CHECKPOINT_NAME if ckpt_dir is not None else None
    result = TrainResult(
        status, run.epoch, run.global_step, run.best_auc, run.best_epoch, run.history,
        None, checkpoint, None, run.elapsed,
    )
    if status == "cancelled":
        callbacks.on_status("cancelled: the last epoch checkpoint is kept; no model written")
        callbacks.on_end(result)
        return result
    if not main:  # rank 0 calibrates and writes the model file
        callbacks.on_end(result)
        return result
    if dist is not None and dist.sync_bn:
        from squid_core.training.distributed import revert_sync_batchnorm

        revert_sync_batchnorm(model.generator)
        revert_sync_batchnorm(model.discriminator)
    if run.best_state is not None:
        model.generator.load_state_dict(run.best_state["generator"])
        model.discriminator.load_state_dict(run.best_state["discriminator"])
    elif run.ema is not None:  # nothing validated: the model file holds the average
        with run.ema.applied(model):
            average = {"generator": _cpu_state(model.generator),
                       "discriminator": _cpu_state(model.discriminator)}
        model.generator.load_state_dict(average["generator"])
        model.discriminator.load_state_dict(average["discriminator"])
    result.model = finalize_model(model, data, cfg, device, run_info={
        "status": status, "epochs": run.epoch, "global_step": run.global_step,
        "best_epoch": run.best_epoch, "best_val_auc": run.best_auc, "history": run.history,
        "seconds": run.elapsed, "device": str(device),
        **({"world_size": world, "backend": dist.backend, "sync_bn": dist.sync_bn}
           if dist is not None else {}),
    }, callbacks=callbacks)
    if out_path is not None:
        callbacks.on_status(f"saving {out_path}")
        result.model.save(out_path)
        result.out_path = Path(out_path)
    callbacks.on_end(result)
    return result

