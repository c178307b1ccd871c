"""The callback protocol between the training loop and its front ends (CLI, GUI).

Plain Python, no Qt: the GUI wizard runs :func:`squid_core.training.trainer.train`
in a worker thread with a :class:`TrainingCallbacks` subclass that forwards events
as signals; the CLI uses :class:`TqdmCallbacks`. Every hook is optional (the base
class does nothing). Hooks run on the training thread between steps, so they must
return quickly.

Pause and cancel go through :class:`TrainingControl`: ``pause()`` makes the loop
block (on an event, no busy wait) before its next step until ``resume()``;
``cancel()`` makes it stop before its next step, keep the last epoch checkpoint,
leave any existing output model untouched and return status ``"cancelled"``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

__all__ = [
    "TrainingControl",
    "StepInfo",
    "EpochInfo",
    "TrainingCallbacks",
    "CallbackList",
    "TqdmCallbacks",
]


class TrainingControl:
    """Thread-safe pause/cancel flags, checked by the loop between steps."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake a paused loop so it can stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait_if_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; returns False if cancelled."""
        self._running.wait(timeout)
        return not self._cancel.is_set()


@dataclass
class StepInfo:
    """After one training step: counters and this step's (weighted) losses."""

    epoch: int
    step_in_epoch: int
    steps_per_epoch: int
    global_step: int
    images_per_s: float
    losses: dict[str, float]


@dataclass
class EpochInfo:
    """After one epoch: mean losses, validation metrics, timing, best so far."""

    epoch: int
    epochs: int
    losses: dict[str, float]
    val_auc: float | None
    val_metrics: dict[str, Any] = field(default_factory=dict)
    best_auc: float | None = None
    best_epoch: int | None = None
    improved: bool = False
    seconds: float = 0.0
    elapsed: float = 0.0
    lr: float = 0.0


class TrainingCallbacks:
    """Override the hooks you need."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Before the first step: data counts, rejected files, config, device."""

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        """An epoch of ``steps`` steps begins."""

    def on_step(self, info: StepInfo) -> None:
        """After each step."""

    def on_samples(self, epoch: int, inputs: np.ndarray, recons: np.ndarray) -> None:
        """After validation: a few inputs and their reconstructions, (n, h, w) in [0, 1]."""

    def on_epoch_end(self, info: EpochInfo) -> None:
        """After validation and the checkpoint of an epoch."""

    def on_status(self, message: str) -> None:
        """A phase change worth showing (loading data, calibrating, saving...)."""

    def on_end(self, result: Any) -> None:
        """With the final :class:`~squid_core.training.trainer.TrainResult`."""


class CallbackList(TrainingCallbacks):
    """Fans every hook out to several callbacks."""

    def __init__(self, callbacks: list[TrainingCallbacks]) -> None:
        self.callbacks = callbacks

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            cbs = object.__getattribute__(self, "callbacks")

            def fan_out(*args: Any, **kwargs: Any) -> None:
                for cb in cbs:
                    getattr(cb, name)(*args, **kwargs)

            return fan_out
        return object.__getattribute__(self, name)


class TqdmCallbacks(TrainingCallbacks):
    """Progress bars and one summary line per epoch on a terminal (used by ``squid train``)."""

    def __init__(
        self, stream: TextIO | None = None, disable: bool | None = None, log_every_s: float = 60.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.disable = disable
        self.log_every_s = log_every_s
        self._bar: Any = None
        self._last_log = time.monotonic()

    def on_status(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=steps, desc=f"epoch {epoch + 1}", unit="step", file=self.stream,
            disable=self.disable, leave=False, dynamic_ncols=True,
        )

    def on_step(self, info: StepInfo) -> None:
        if self._bar is not None and self._bar.disable and self.disable is None:
            # No terminal (e.g. nohup > log): a plain progress line now and then instead.
            if time.monotonic() - self._last_log >= self.log_every_s:
                self._last_log = time.monotonic()
                print(f"epoch {info.epoch + 1} step {info.step_in_epoch + 1}/"
                      f"{info.steps_per_epoch} ({info.global_step} total) "
                      f"{info.images_per_s:.2f} img/s", file=self.stream, flush=True)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                img_s=f"{info.images_per_s:.1f}",
                **{k: f"{v:.4g}" for k, v in info.losses.items() if k in ("student", "d")},
            )

    def on_epoch_end(self, info: EpochInfo) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        auc = "n/a" if info.val_auc is None else f"{info.val_auc:.4f}"
        best = "n/a" if info.best_auc is None else f"{info.best_auc:.4f}"
        losses = " ".join(f"{k}={v:.4g}" for k, v in info.losses.items())
        print(
            f"epoch {info.epoch + 1}/{info.epochs} val_auc={auc} best={best} "
            f"(epoch {None if info.best_epoch is None else info.best_epoch + 1}) "
            f"{losses} lr={info.lr:.3g} time={info.seconds:.1f}s elapsed={info.elapsed:.0f}s",
            file=self.stream,
            flush=True,
        )
