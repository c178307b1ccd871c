"""Training in its own process, driven by JSON lines: what the GUI wizard runs.

A crash in training (out of memory, a driver fault, a kill) must not take the
viewer down, so the wizard starts::

    python -m squid_core.training.worker_process JOB.json

and talks to it through pipes. The job file is one JSON object (:class:`Job`).

**Events** (stdout, one JSON object per line, key ``"event"``):

``hello`` (pid), ``status`` (message), ``data`` (counts, rejected files),
``start`` (steps per epoch, device, start epoch), ``epoch_start``, ``progress``
(epoch, step, global step, total steps, images/s, losses), ``samples`` (epoch and
base64 PNGs of inputs and reconstructions), ``epoch_end`` (mean losses, validation
AUC, seconds), ``paused`` / ``resumed``, ``estimate`` (seconds per step and per
epoch, ``mode: "estimate"`` only), ``validation`` (per-image scores and labels of
the validation set, ROC, AUC, calibration mu/sigma, the trainer's operating
points), ``finished`` (status, model path, checkpoint path), ``error`` (message,
traceback). ``finished`` or ``error`` is always the last event.

**Commands** (stdin, one per line): ``pause``, ``resume``, ``cancel``. End of
stdin (the viewer went away) counts as ``cancel``, so no orphan keeps training.

Stdout carries only events: the real stdout is kept for them and file descriptor 1
is pointed at stderr, so a stray ``print`` in a library cannot corrupt the stream.

Cancel stops before the next step: the model file is not written (so the model the
viewer uses is never touched), and the checkpoint of the last completed epoch
(``checkpoint_dir/last.pt``) stays, from which ``"resume": true`` continues.

Validation without a labelled folder holds out a deterministic 10% of the normal
images and adds a synthetic anomaly to a copy of each (see
:func:`synthetic_anomalies`), so the ROC and the operating point have an abnormal
class to work with; the ``validation`` event says which source was used.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from squid_core.training.callbacks import EpochInfo, StepInfo, TrainingCallbacks, TrainingControl
from squid_core.training.recipes import DEFAULT_RECIPE, RECIPES

#: Share of the normal images held out for validation when no labelled folder is given.
HOLDOUT_FRACTION = 0.1
#: Progress events are sent at most this often (seconds); the last step of an epoch always.
PROGRESS_INTERVAL_S = 0.2
COMMANDS = ("pause", "resume", "cancel")


@dataclass
class Job:
    """What to train. Paths are strings so the job round-trips through JSON unchanged.

    ``mode`` is ``"train"`` or ``"estimate"`` (a few steps, timed, nothing written).
    ``init_model`` is the model file to fine-tune from (``None``: from scratch with
    ``preset``). ``max_steps`` caps the total number of steps (a quick trial).
    ``resume`` continues from ``checkpoint_dir/last.pt`` when it exists. ``threads``
    sets torch's CPU threads (``None``: torch's default, one per core). ``recipe``
    names the training recipe (``squid_core.training.recipes``).
    """

    normal_dirs: list[str]
    out_model: str = ""
    checkpoint_dir: str = ""
    mode: str = "train"
    val_normal_dir: str | None = None
    val_abnormal_dir: str | None = None
    preset: str = "compact"
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    init_model: str | None = None
    resume: bool = False
    seed: int = 0
    estimate_steps: int = 2
    n_samples: int = 4
    threads: int | None = None
    recipe: str = DEFAULT_RECIPE

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown job keys: {sorted(unknown)}")
        if not d.get("normal_dirs"):
            raise ValueError("the job names no folder of normal images ('normal_dirs')")
        job = cls(**d)
        if job.mode not in ("train", "estimate"):
            raise ValueError(f"mode must be 'train' or 'estimate', not {job.mode!r}")
        if job.recipe not in RECIPES:
            raise ValueError(f"unknown training recipe {job.recipe!r}")
        if job.mode == "train" and not (job.out_model and job.checkpoint_dir):
            raise ValueError("a training job needs 'out_model' and 'checkpoint_dir'")
        return job


# ------------------------------------------------------------------ protocol
class EventStream:
    """Writes events as JSON lines to a private stream, one whole line at a time."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, **payload: Any) -> None:
        line = json.dumps({"event": event, **payload}, default=_json_default, allow_nan=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(x: Any) -> Any:
    """NaN and infinities as ``None`` (JSON has no NaN)."""
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def claim_stdout() -> TextIO:
    """Keep the real stdout for events and send everything else written to fd 1 to stderr."""
    sys.stdout.flush()
    event_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(event_fd, "w", encoding="utf-8", buffering=1)


def listen_for_commands(stdin: TextIO, control: Any, events: EventStream) -> threading.Thread:
    """Apply ``pause``/``resume``/``cancel`` lines from ``stdin`` to ``control`` (a daemon)."""

    def loop() -> None:
        for line in stdin:
            word = line.strip().lower()
            if word.startswith("{"):
                try:
                    word = str(json.loads(word).get("command", "")).lower()
                except (ValueError, AttributeError):
                    word = ""
            if word == "pause":
                control.pause()
                events.emit("paused")
            elif word == "resume":
                control.resume()
                events.emit("resumed")
            elif word == "cancel":
                control.cancel()
                events.emit("status", message="cancelling: stopping before the next step")
            elif word:
                events.emit("status", message=f"unknown command ignored: {word!r}")
        control.cancel()  # stdin closed: the viewer is gone

    thread = threading.Thread(target=loop, name="worker-commands", daemon=True)
    thread.start()
    return thread


def png_base64(image: np.ndarray) -> str:
    """A (h, w) float image in [0, 1] as a base64 8-bit grey PNG (small enough for one line)."""
    import cv2

    a = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise ValueError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


# ---------------------------------------------------------------- callbacks
class JsonCallbacks(TrainingCallbacks):
    """Forwards the trainer's hooks as events; per-step progress is throttled."""

    def __init__(self, events: EventStream, total_steps: int | None) -> None:
        self.events = events
        self.total_steps = total_steps
        self._last = 0.0

    def on_start(self, info: dict[str, Any]) -> None:
        import torch

        self.events.emit("start", device=info.get("device"), threads=torch.get_num_threads(),
                         steps_per_epoch=info.get("steps_per_epoch"),
                         start_epoch=info.get("start_epoch", 0), total_steps=self.total_steps,
                         recipe=(info.get("config") or {}).get("recipe"))

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        self.events.emit("epoch_start", epoch=epoch, steps=steps)

    def on_step(self, info: StepInfo) -> None:
        now = time.monotonic()
        last_of_epoch = info.step_in_epoch == info.steps_per_epoch - 1
        if now - self._last < PROGRESS_INTERVAL_S and not last_of_epoch:
            return
        self._last = now
        self.events.emit("progress", epoch=info.epoch, step=info.step_in_epoch + 1,
                         steps=info.steps_per_epoch, global_step=info.global_step,
                         total_steps=self.total_steps, images_per_s=_finite(info.images_per_s),
                         losses=_finite(info.losses))

    def on_samples(self, epoch: int, inputs: np.ndarray, recons: np.ndarray) -> None:
        self.events.emit("samples", epoch=epoch, inputs=[png_base64(x) for x in inputs],
                         recons=[png_base64(r) for r in recons])

    def on_epoch_end(self, info: EpochInfo) -> None:
        self.events.emit("epoch_end", epoch=info.epoch, epochs=info.epochs,
                         losses=_finite(info.losses), val_auc=_finite(info.val_auc),
                         best_auc=_finite(info.best_auc), best_epoch=info.best_epoch,
                         seconds=info.seconds, elapsed=info.elapsed)

    def on_status(self, message: str) -> None:
        self.events.emit("status", message=message)


class EstimateCallbacks(JsonCallbacks):
    """Time-stamps every step and cancels the run after one warm-up plus ``n_timed`` steps."""

    def __init__(self, events: EventStream, control: TrainingControl, n_timed: int) -> None:
        super().__init__(events, n_timed + 1)
        self.control = control
        self.n_timed = n_timed
        self.stamps: list[float] = []

    def on_step(self, info: StepInfo) -> None:
        self.stamps.append(time.perf_counter())
        self.events.emit("progress", epoch=0, step=len(self.stamps), steps=self.n_timed + 1,
                         global_step=len(self.stamps), total_steps=self.n_timed + 1,
                         images_per_s=_finite(info.images_per_s), losses=_finite(info.losses))
        if len(self.stamps) > self.n_timed or len(self.stamps) >= info.steps_per_epoch:
            self.control.cancel()

    def on_status(self, message: str) -> None:
        """Silent: the trainer's "cancelled" note would only confuse an estimate."""


# --------------------------------------------------------------------- data
def synthetic_anomalies(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Copies of normal images (N, 1, h, w) in [0, 1], each with one synthetic lesion.

    Alternately a bright, smooth-edged elliptical opacity (a consolidation-like
    blob) and a locally mirrored square patch (a structure out of place), at a
    random position away from the border. They are stand-ins for real disease,
    good enough to check that the model notices local departures from normal.
    """
    rng = np.random.default_rng(seed)
    out = np.array(images, dtype=np.float32, copy=True)
    n, _, h, w = out.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
        if i % 2 == 0:
            ry, rx = rng.uniform(0.08, 0.16) * h, rng.uniform(0.08, 0.16) * w
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            mask = np.clip(1.5 - d, 0.0, 1.0)
            out[i, 0] = np.clip(out[i, 0] + 0.5 * mask, 0.0, 1.0)
        else:
            s = int(rng.uniform(0.15, 0.25) * min(h, w))
            y0, x0 = int(cy - s / 2), int(cx - s / 2)
            patch = out[i, 0, y0:y0 + s, x0:x0 + s]
            out[i, 0, y0:y0 + s, x0:x0 + s] = patch[::-1, ::-1]
    return out


def load_training_data(job: Job, image_size: int, events: EventStream):
    """Decode the job's folders once into the trainer's ``TrainingData``.

    Uses :func:`squid_core.training.data_setup.folder_training_data`, as ``squid train``
    does. Without a labelled folder, the held-out normals get synthetic-lesion twins
    as the abnormal class (:func:`synthetic_anomalies`).
    """
    import torch

    from squid_core.training.data_setup import folder_training_data
    from squid_core.training.datasets import ImageSet

    size = (image_size, image_size)
    status = lambda message: events.emit("status", message=message)  # noqa: E731
    labelled = bool(job.val_normal_dir and job.val_abnormal_dir) and job.mode == "train"
    if labelled:
        data = folder_training_data(job.normal_dirs, size, val_normal_dirs=[job.val_normal_dir],
                                    val_abnormal_dirs=[job.val_abnormal_dir], seed=job.seed,
                                    status=status)
        source = "labelled validation folder"
    elif job.mode == "train":
        data = folder_training_data(job.normal_dirs, size, val_fraction=HOLDOUT_FRACTION,
                                    seed=job.seed, status=status)
        source = "none"
        if data.val is not None and len(data.val):
            normals = data.val
            fake = synthetic_anomalies(normals.images.float().numpy(), seed=job.seed)
            abnormal = ImageSet(torch.from_numpy(fake).to(torch.float16),
                                torch.ones(len(normals), dtype=torch.long),
                                [p.with_name(f"synthetic-{p.name}") for p in normals.paths])
            data.val = ImageSet.concat([normals, abnormal])
            data.summary["n_val_abnormal"] = len(abnormal)
            source = "held-out normals + synthetic anomalies"
    else:  # estimate: training images only
        data = folder_training_data(job.normal_dirs, size, seed=job.seed, status=status)
        source = "none"
    data.summary["validation_source"] = source
    events.emit("data", n_train=data.summary["n_train"],
                n_val_normal=data.summary["n_val_normal"],
                n_val_abnormal=data.summary["n_val_abnormal"], validation_source=source,
                rejected=[[str(r.path), r.reason] for r in data.rejected])
    return data


# -------------------------------------------------------------------- runs
def resolve_device(name: str) -> str:
    """The torch device for ``auto``/``cpu``/``cuda``/``mps``, as the scorer resolves it."""
    from squid_core.scoring.device import resolve_device as _resolve

    return str(_resolve(name))


def _build_model(job: Job):
    """The starting model; seeded first, so that a run from scratch is reproducible."""
    import squid_core
    from squid_core.training.trainer import seed_everything

    seed_everything(job.seed)
    if job.init_model:
        return squid_core.load_model(job.init_model)
    return squid_core.build_model(job.preset)


def _train_config(job: Job, model: Any):
    from squid_core.training.config import TrainConfig
    from squid_core.training.recipes import apply_recipe

    cfg = TrainConfig.for_preset(job.preset, epochs=max(1, job.epochs), seed=job.seed,
                                 max_steps=job.max_steps, samples_per_epoch=job.n_samples)
    apply_recipe(cfg, job.recipe)
    if job.batch_size:
        cfg.batch_size = int(job.batch_size)
    if job.init_model:
        training = model.metadata.get("training") or {}
        cfg.preset = str((training.get("config") or {}).get("preset") or "fine-tune")
    return cfg


def _validation_event(events: EventStream, model: Any, data: Any, cfg: Any, device: str) -> None:
    """Per-image scores of the validation set with the final calibration, for the wizard."""
    from squid_core.metrics import auc, roc_points
    from squid_core.scoring.calibration import scores_from_logits
    from squid_core.training.finalize import validation_logits

    cal = model.metadata.get("calibration") or {}
    payload: dict[str, Any] = {
        "mu": cal.get("mu"), "sigma": cal.get("sigma"), "n_calibration": cal.get("n_images"),
        "operating_points": model.metadata.get("operating_points") or [],
        "default_operating_point": model.metadata.get("default_operating_point"),
        "source": data.summary.get("validation_source", "none"),
        "scores": [], "labels": [], "auc": None, "roc": None,
    }
    if data.val is not None and len(data.val) and cal:
        out = validation_logits(model, data.val, cfg, device, bf16=False)
        labels = data.val.labels.numpy().astype(int)
        scores = scores_from_logits(out.logits, float(cal["mu"]), float(cal["sigma"]))
        payload.update(scores=scores.tolist(), labels=labels.tolist())
        if 0 < labels.sum() < labels.size:
            payload.update(auc=auc(-out.logits, labels), roc=roc_points(scores, labels))
    events.emit("validation", **_finite(payload))


def run_training(job: Job, events: EventStream, control: TrainingControl) -> int:
    """The ``train`` mode: train, write the model file, report validation scores."""
    import datetime as dt

    from squid_core.training.trainer import CHECKPOINT_NAME, train
    from squid_core.version import __version__

    device = resolve_device(job.device)
    events.emit("status", message=f"building the model on {device}")
    model = _build_model(job)
    parent_name = model.name if job.init_model else None
    cfg = _train_config(job, model)
    data = load_training_data(job, model.config.image_size, events)
    ckpt = Path(job.checkpoint_dir) / CHECKPOINT_NAME
    resume = ckpt if job.resume and ckpt.is_file() else None
    if job.resume and resume is None:
        events.emit("status", message="no checkpoint to resume from: starting afresh")
    steps = data.steps_per_epoch(cfg)
    total = steps * cfg.epochs if cfg.max_steps is None else min(steps * cfg.epochs, cfg.max_steps)
    result = train(model, data, cfg, out_path=None, checkpoint_dir=job.checkpoint_dir,
                   resume=resume, device=device, callbacks=JsonCallbacks(events, total),
                   control=control)
    if result.status == "cancelled":
        events.emit("finished", status="cancelled", model_path=None,
                    checkpoint=str(ckpt) if ckpt.is_file() else None,
                    epochs_done=result.epochs_done, global_step=result.global_step)
        return 0
    final = result.model
    now = dt.datetime.now(dt.timezone.utc)
    final.metadata["created"] = now.isoformat(timespec="seconds")
    final.metadata["version"] = now.strftime("%Y.%m.%d-%H%M")  # a fine-tune is a new version
    final.metadata["software_version"] = __version__
    if parent_name is not None:
        final.metadata["training"] = {**(final.metadata.get("training") or {}),
                                      "fine_tuned_from": parent_name}
    _validation_event(events, final, data, cfg, device)
    events.emit("status", message="saving the model file")
    final.save(job.out_model)
    events.emit("finished", status=result.status, model_path=job.out_model,
                checkpoint=str(ckpt) if ckpt.is_file() else None,
                epochs_done=result.epochs_done, global_step=result.global_step,
                best_auc=_finite(result.best_auc))
    return 0


def run_estimate(job: Job, events: EventStream, control: TrainingControl) -> int:
    """The ``estimate`` mode: time a few steps (after one warm-up) and extrapolate an epoch."""
    import tempfile

    from squid_core.training.trainer import train

    device = resolve_device(job.device)
    model = _build_model(job)
    cfg = _train_config(job, model)
    cfg.epochs, cfg.max_steps, cfg.samples_per_epoch = 1, None, 0
    t0 = time.perf_counter()
    data = load_training_data(job, model.config.image_size, events)
    load_s = time.perf_counter() - t0
    steps_per_epoch = data.steps_per_epoch(cfg)
    timer = EstimateCallbacks(events, control, max(1, job.estimate_steps))
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="squid-estimate-") as tmp:
        train(model, data, cfg, out_path=None, checkpoint_dir=tmp, device=device,
              callbacks=timer, control=control)
    stamps = timer.stamps
    if len(stamps) >= 2:  # the first step includes warm-up (allocation, kernel choice)
        per_step = float(np.median(np.diff(stamps)))
    else:
        per_step = float(stamps[0] - t1) if stamps else float("nan")
    events.emit("estimate", seconds_per_step=_finite(per_step), steps_per_epoch=steps_per_epoch,
                seconds_per_epoch=_finite(per_step * steps_per_epoch), load_seconds=load_s,
                device=device, batch_size=cfg.batch_size, n_train=len(data.train))
    events.emit("finished", status="estimated", model_path=None, checkpoint=None)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m squid_core.training.worker_process JOB.json``."""
    args = sys.argv[1:] if argv is None else argv
    events = EventStream(claim_stdout())
    events.emit("hello", pid=os.getpid())
    try:
        if len(args) != 1:
            raise ValueError("usage: python -m squid_core.training.worker_process JOB.json")
        job = Job.from_dict(json.loads(Path(args[0]).read_text(encoding="utf-8")))
        if job.threads:
            import torch

            torch.set_num_threads(int(job.threads))
        control = TrainingControl()
        listen_for_commands(sys.stdin, control, events)
        run = run_estimate if job.mode == "estimate" else run_training
        return run(job, events, control)
    except Exception as exc:  # every failure becomes an event the wizard can show
        events.emit("error", message=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main())
