"""Multi-process training with ``torchrun``: process group, DDP, synced memory queues.

``torchrun --standalone --nproc_per_node=N -m squid_core train ...`` (or a multi-node
``torchrun --nnodes ... --rdzv-endpoint HOST:PORT``) starts one process per device;
torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``, which :func:`init_from_env` reads. How the pieces fit:

* Gradients: the generator and the discriminator are wrapped in *separate*
  ``DistributedDataParallel`` modules (:class:`DistributedNets`), so each optimiser's
  backward all-reduces only its own network. The generator's DDP wrapper is used
  only on generator steps (where its forward keeps a graph); discriminator-only
  steps run the plain generator under ``no_grad``. The generator's adversarial term
  calls the *plain* discriminator (its weights take no gradient there), so no DDP
  reducer waits for gradients that never come and nothing is marked ready twice;
  every parameter of a wrapped network gets a gradient in each of its backward
  passes, hence ``find_unused_parameters=False``.
* Memory queues: after the generator's optimiser step each rank's queue features
  are all-gathered in rank order and every rank writes the same global batch, so
  the queues stay identical without any broadcast. DDP runs with
  ``broadcast_buffers=False``: re-sending 6.5 MB of identical queues every forward
  would buy nothing, and BatchNorm running statistics then stay per rank (each an
  estimate from its own shard; rank 0's are the ones saved). With ``--sync-bn``
  they are computed from global batch statistics and are identical everywhere.
* SyncBatchNorm: ``torch.nn.SyncBatchNorm`` on CUDA/XPU/HPU; PyTorch's refuses CPU
  tensors (checked with torch 2.13), so on CPU (gloo) :class:`GlobalBatchNorm2d`
  does the same computation: per-rank count/mean/M2 all-gathered and combined with
  Chan's parallel-variance formula in the forward, the two gradient sums
  all-reduced in the backward.
* Batches: ``TrainConfig.batch_size`` is the GLOBAL batch; each rank takes
  ``batch_size / world_size`` images from a ``DistributedSampler`` (seeded with the
  run seed, ``set_epoch`` every epoch, so a resumed run draws the same batches).
  On-the-fly DigitAnatomy grids come from one stream per rank, seeded per rank.
* Randomness (augmentation, masked shortcuts): each rank has its own seed; a
  checkpoint stores every rank's RNG (and grid stream) state, and a resume with the
  same world size restores them, so it continues exactly.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "DistributedNets",
    "GlobalBatchNorm2d",
    "convert_sync_batchnorm",
    "revert_sync_batchnorm",
    "distributed_env",
    "init_from_env",
    "init_process_group",
    "shutdown",
    "per_rank_batch",
    "rank_seed",
    "epoch_indices",
]

_TORCH_SYNC_BN_DEVICES = ("cuda", "xpu", "hpu")


@dataclass
class DistContext:
    """Where this process sits in the job, plus the collectives the trainer needs."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    sync_bn: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's ``t`` (same shape on all ranks) in rank order."""
        t = t.detach().contiguous()
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(parts, t)
        return torch.cat(parts, dim=0)

    def reduce_losses(self, losses: dict[str, float], flag: bool = False) -> tuple[dict[str, float], bool]:
        """Mean of each loss over the ranks, and whether any rank raised ``flag``.

        All ranks hold the same keys at the same step (the step kind is global).
        """
        keys = sorted(losses)
        t = torch.tensor([losses[k] for k in keys] + [float(flag)], dtype=torch.float64)
        if self.backend == "nccl":
            t = t.to(self.device)
        dist.all_reduce(t)
        vals = t.cpu().tolist()
        return {k: vals[i] / self.world_size for i, k in enumerate(keys)}, vals[-1] > 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (picklable objects)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        dist.barrier()

    def _object_device(self) -> torch.device | None:
        return self.device if self.backend == "nccl" else None


class DistributedNets:
    """The DDP wrappers of a model's generator and discriminator, and the queue gather.

    ``model.generator``/``model.discriminator`` stay the plain modules (checkpoints,
    validation and the model file use them); the wrappers share their parameters.
    """

    def __init__(self, model, ctx: DistContext) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        kw: dict[str, Any] = dict(device_ids=ids, find_unused_parameters=False)
        # Buffers are synced from rank 0 once, at construction, never per forward.
        if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
            kw["forward_sync_buffers"] = False  # torch >= 2.13's name
        else:
            kw["broadcast_buffers"] = False
        # Construction broadcasts rank 0's parameters and buffers (queues included).
        self.generator = DDP(model.generator, **kw)
        self.discriminator = DDP(model.discriminator, **kw)
        self.ctx = ctx

    def gather(self, queue_features: torch.Tensor) -> torch.Tensor:
        """The global batch's queue features (B, P, D), ranks in order."""
        return self.ctx.gather_rows(queue_features)


# ------------------------------------------------------------------- environment
_PEER_GONE = ("connection closed by peer", "connection reset by peer", "broken pipe")


def is_peer_failure(exc: BaseException) -> bool:
    """True for the error a collective raises because another process of the run died
    (e.g. rank 0 after a full disk): gloo reports a closed connection, NCCL and the
    rendezvous store raise ``torch.distributed.DistError``."""
    if isinstance(exc, dist.DistError):
        return True
    return isinstance(exc, RuntimeError) and any(p in str(exc).lower() for p in _PEER_GONE)


def distributed_env() -> dict[str, int] | None:
    """``rank``, ``world_size`` and ``local_rank`` when launched by torchrun, else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    return {"rank": rank, "world_size": world, "local_rank": local}


def init_process_group(
    rank: int,
    world_size: int,
    local_rank: int,
    device: torch.device,
    *,
    backend: str | None = None,
    sync_bn: bool = False,
    timeout_minutes: float = 60.0,
    init_method: str = "env://",
) -> DistContext:
    """Join the job's process group and return this rank's :class:`DistContext`.

    ``device`` of type cuda becomes ``cuda:local_rank``. The backend defaults to nccl
    on CUDA and gloo otherwise.
    """
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type not in ("cpu",) and backend is None:
        raise ValueError(f"distributed training on {device.type} needs --backend")
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(
            backend, init_method=init_method, rank=rank, world_size=world_size,
            timeout=_dt.timedelta(minutes=timeout_minutes),
        )
    return DistContext(rank, world_size, local_rank, backend, device, sync_bn)


def init_from_env(
    device: torch.device, *, backend: str | None = None, sync_bn: bool = False,
    timeout_minutes: float = 60.0,
) -> DistContext | None:
    """:func:`init_process_group` from torchrun's environment; None when not under torchrun."""
    env = distributed_env()
    if env is None:
        return None
    return init_process_group(
        env["rank"], env["world_size"], env["local_rank"], device, backend=backend,
        sync_bn=sync_bn, timeout_minutes=timeout_minutes,
    )


def shutdown() -> None:
    """Leave the process group (no-op when none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch(global_batch: int, world_size: int) -> int:
    """``global_batch / world_size``; the global batch must split evenly."""
    if global_batch % world_size:
        raise ValueError(
            f"batch size {global_batch} (the global batch) is not divisible by the "
            f"{world_size} processes; choose a multiple of {world_size}"
        )
    return global_batch // world_size


def rank_seed(seed: int, rank: int, salt: int = 0) -> int:
    """Rank 0 keeps ``seed`` (when salt is 0); other ranks get independent derived seeds."""
    if rank == 0 and salt == 0:
        return seed
    return int(np.random.SeedSequence([seed % 2**63, rank, salt]).generate_state(1, np.uint64)[0] >> 1)


def epoch_indices(n: int, ctx: DistContext, seed: int, epoch: int) -> list[int]:
    """This rank's image indices for ``epoch``: a shuffled ``DistributedSampler`` share.

    Step ``i``'s per-rank batches together hold positions ``i*B .. (i+1)*B - 1`` of
    the sampler's permutation (ranks interleaved), i.e. the same images a single
    process with batch B draws from that permutation.
    """
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        range(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed,
        drop_last=True,
    )
    sampler.set_epoch(epoch)
    return list(sampler)


# ------------------------------------------------------------------ SyncBatchNorm
class _GlobalBatchNorm(torch.autograd.Function):
    """Batch norm over the union of every rank's batch (any device, any backend)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps, world_size):  # noqa: D401
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        n = x.numel() // c
        mean = x.mean(dims)
        m2 = ((x - mean.view(shape)) ** 2).sum(dims)
        local = torch.cat([mean.new_tensor([float(n)]), mean, m2])
        parts = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(parts, local)
        stats = torch.stack(parts)
        counts, means, m2s = stats[:, :1], stats[:, 1 : c + 1], stats[:, c + 1 :]
        total = counts.sum()
        g_mean = (counts * means).sum(0) / total
        g_m2 = (m2s + counts * (means - g_mean) ** 2).sum(0)
        invstd = torch.rsqrt(g_m2 / total + eps)
        xhat = (x - g_mean.view(shape)) * invstd.view(shape)
        y = xhat * weight.view(shape) + bias.view(shape)
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.total = total
        unbiased = g_m2 / (total - 1).clamp_min(1)
        ctx.mark_non_differentiable(g_mean, unbiased)
        return y, g_mean, unbiased

    @staticmethod
    def backward(ctx, dy, _dmean, _dvar):
        xhat, weight, invstd = ctx.saved_tensors
        c = xhat.shape[1]
        dims = [0, *range(2, xhat.dim())]
        shape = [1, c] + [1] * (xhat.dim() - 2)
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * xhat).sum(dims)
        red = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(red)  # every rank's loss depends on every rank's inputs
        g_dy, g_dy_xhat = red[:c] / ctx.total, red[c:] / ctx.total
        dx = (weight * invstd).view(shape) * (
            dy - g_dy.view(shape) - xhat * g_dy_xhat.view(shape)
        )
        # Parameter gradients stay local: DDP averages them like any other.
        return dx, sum_dy_xhat, sum_dy, None, None


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics cover the whole global batch.

    The CPU (gloo) counterpart of ``torch.nn.SyncBatchNorm``; state-dict compatible
    with ``BatchNorm2d``. In eval mode, or without a multi-rank process group, it
    is a plain ``BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        dt = torch.promote_types(x.dtype, torch.float32)  # statistics in float32 at least
        with torch.autocast(x.device.type, enabled=False):
            y, mean, var = _GlobalBatchNorm.apply(
                x.to(dt), self.weight.to(dt), self.bias.to(dt), self.eps, dist.get_world_size(),
            )
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.to(self.running_var.dtype), alpha=factor)
        return y.to(x.dtype)


def _swap_batchnorm(module: nn.Module, make) -> nn.Module:
    """Replace BatchNorm modules in place (same Parameter and buffer objects)."""
    new = make(module)
    if new is not None:
        return new
    for name, child in module.named_children():
        module.add_module(name, _swap_batchnorm(child, make))
    return module


def _copy_bn(src: nn.modules.batchnorm._BatchNorm, cls) -> nn.Module:
    out = cls(src.num_features, src.eps, src.momentum, src.affine, src.track_running_stats)
    if src.affine:
        out.weight, out.bias = src.weight, src.bias
    out.running_mean, out.running_var = src.running_mean, src.running_var
    out.num_batches_tracked = src.num_batches_tracked
    out.train(src.training)
    return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every ``BatchNorm2d`` of ``module`` synchronised over the process group.

    PyTorch's ``SyncBatchNorm`` where it supports the device, else
    :class:`GlobalBatchNorm2d`. Parameters and buffers are kept (same objects), so
    optimisers and state dicts are unaffected.
    """
    if device.type in _TORCH_SYNC_BN_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)

    def make(m):
        if type(m) is nn.BatchNorm2d and m.affine:
            return _copy_bn(m, GlobalBatchNorm2d)
        return None

    return _swap_batchnorm(module, make)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Undo :func:`convert_sync_batchnorm`: plain ``BatchNorm2d`` again (for saving,
    BatchNorm folding and scoring)."""

    def make(m):
        if isinstance(m, (nn.SyncBatchNorm, GlobalBatchNorm2d)):
            return _copy_bn(m, nn.BatchNorm2d)
        return None

    return _swap_batchnorm(module, make)
