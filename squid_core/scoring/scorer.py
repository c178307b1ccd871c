"""`Scorer`: one display-space image in, one `AnalysisResult` out.

Pipeline per image: resize to the model's square input (INTER_AREA when shrinking,
bilinear when enlarging, the same rule as the training data sets), run the generator
(student only: the teacher decoder does not influence the score) and the
discriminator, turn the logit into ``score = 100 * (1 - sigmoid((raw - mu) / sigma))``
with the model file's calibration (mu = 0, sigma = 1 and ``calibrated=False``
without one), compare with the default operating point, and bring the
reconstruction and the residual heatmap back to the input's size.

Speed: the Scorer keeps its own inference copy of the networks with every BatchNorm
folded into its convolution, the teacher dropped and, on CPU, channels-last memory
layout; the model object itself is left untouched (it can still be saved or
trained). On a CPU with native bfloat16 the default precision is ``mixed``: float32
everywhere but the in-painting block's memory-bound linear layers, whose weights are
bfloat16 (scores within 0.0002 points of float32, see `prepare_inference`). With
``bf16=True`` the convolutions and the discriminator's conv stack run in bfloat16 too
(weights converted once, autocast for activations) while the memory reads, LayerNorms and the
final logit stay in float32; it is about twice as fast but not the default, because
the discrete top-k memory reads amplify bfloat16 rounding: scores move by several
points on some images (``bench/bf16_scores.py``). With ``compile=True`` batch-1
scoring runs a ``torch.compile``d pipeline (``compiled.py``), compiled on first use
or by ``compile()``.

A model file carrying an intensity reference (``squid calibrate --standardise``, see
:mod:`squid_core.scoring.standardise`) has every resized input matched to it before the
networks see it, as in its calibration and training.

Test-time averaging (``tta=True``, off by default): the raw logit is the mean of the
logits of a few re-framings of the image (:data:`TTA_VIEWS`: as given, zoomed in and
zoomed out by 8 %, see :mod:`squid_core.scoring.nuisance`), so that the score depends
less on how tightly the chest was framed; the reconstruction and heatmap are those of
the image as given. It costs one forward pass per view. Measured on the bundled model
with ``bench/robustness.py --tta`` (see ``docs/robustness.md``).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from squid_core.model.conv_blocks import fuse_batchnorm
from squid_core.scoring.compiled import CompiledPipeline
from squid_core.scoring.device import resolve_device
from squid_core.scoring.heatmap import heatmap as make_heatmap
from squid_core.scoring.heatmap import resize_map
from squid_core.scoring.nuisance import Nuisance
from squid_core.scoring.ood_guard import guard_features
from squid_core.scoring.operating_point import (
    OperatingPoint,
    default_operating_point_of,
    operating_points_of,
)
from squid_core.scoring.result import OUTSIDE, SCORED, AnalysisResult
from squid_core.scoring.standardise import match_histogram, reference_of

log = logging.getLogger(__name__)

#: What a result scored on the CPU after the GPU ran out of memory says, in ``notes``.
CPU_FALLBACK_NOTE = "the GPU ran out of memory: scored on the CPU instead"
#: What a result says when compilation was asked for but is impossible here.
COMPILE_FAILED_NOTE = "torch.compile is unavailable here: scored uncompiled"


def outside_reason(distance: float, threshold: float) -> str:
    """The user-facing reason of an ``outside`` result."""
    # As many decimals as it takes for the two numbers to read differently (an image just
    # past the threshold must not say "38.1 > 38.1").
    digits = next((d for d in (1, 2, 3) if round(distance, d) > round(threshold, d)), 4)
    return (f"outside the model's training data (distance {distance:.{digits}f} > "
            f"{threshold:.{digits}f} from its training normals): the score is uncalibrated here")


def resize_for_model(pixels: np.ndarray, size: int) -> np.ndarray:
    """A display-space image (H, W) -> (size, size) float32 in [0, 1]."""
    a = np.asarray(pixels)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image (H, W), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"expected display-space floats in [0, 1], got dtype {a.dtype}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"image too small to score: {a.shape}")
    a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
    interp = cv2.INTER_AREA if (a.shape[0] > size or a.shape[1] > size) else cv2.INTER_LINEAR
    return np.clip(cv2.resize(a, (size, size), interpolation=interp), 0.0, 1.0)


def _model_input(batch: np.ndarray, device: torch.device, channels_last: bool) -> torch.Tensor:
    """(B, S, S) float32 images -> the networks' (B, 1, S, S) input on ``device``."""
    x = torch.from_numpy(batch).to(device)[:, None]
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _to_numpy(recon: torch.Tensor, logits: torch.Tensor,
              features: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(reconstructions (B, S, S), logits (B,), guard descriptors (B, D) or None) as
    float32 arrays on the CPU."""
    feats = None if features is None else features.float().cpu().numpy()
    return recon[:, 0].float().cpu().numpy(), logits.float().reshape(-1).cpu().numpy(), feats


#: The re-framings averaged by ``Scorer(tta=True)``; the first is the image as given.
TTA_VIEWS: tuple[Nuisance | None, ...] = (None, Nuisance("zoom_in", 1.08),
                                          Nuisance("zoom_out", 1.08))

#: Numeric precisions of the inference copy, see `prepare_inference`.
PRECISIONS = ("fp32", "mixed", "bf16")


def default_precision(device: torch.device) -> str:
    """``mixed`` on a CPU with native bfloat16 support in oneDNN (same scores, faster at
    batch 1), ``fp32`` elsewhere (GPUs, and CPUs that would emulate bfloat16)."""
    if device.type != "cpu":
        return "fp32"
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        native = False
    return "mixed" if native else "fp32"


def prepare_inference(
    model: Any, device: torch.device, *, precision: str = "fp32",
    channels_last: bool | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Inference copies of (generator, discriminator): BN folded, teacher dropped, eval mode.

    ``precision``:

    * ``fp32``: everything float32 (the reference's arithmetic, parity-tested).
    * ``mixed``: float32 except the in-painting block's linear layers (attention and
      feed-forward, 19 M weights = 76 MB read per image at batch 1, where memory
      bandwidth, not arithmetic, sets the time), whose weights are bfloat16. Their
      outputs feed LayerNorms and a residual sum dominated by the float32 memory
      readouts, so scores move by at most 0.0002 points on real radiographs
      (``bench/bf16_scores.py --precision mixed``), while the top-k memory reads, the
      convolutions and the discriminator stay float32.
    * ``bf16``: additionally every convolution's weights become bfloat16 (run under
      autocast). About twice as fast, but scores move by up to several points.

    ``channels_last`` defaults to True on CPU, where oneDNN convolutions prefer it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    gen = copy.deepcopy(model.generator).eval()
    gen.teacher = None
    # As the model file says: per-image BatchNorm statistics (not folded, since they
    # depend on the image) or, for older files, the running averages (folded below).
    disc = model.scoring_discriminator()
    fuse_batchnorm(gen)
    fuse_batchnorm(disc)
    if precision == "bf16":
        keep_fp32 = {id(m) for m in gen.inpaint.modules()} | {id(gen.decoder.head)}
        for net in (gen, disc):
            for module in net.modules():
                if isinstance(module, nn.Conv2d) and id(module) not in keep_fp32:
                    module.to(torch.bfloat16)
    if precision in ("mixed", "bf16"):
        for module in gen.inpaint.modules():  # attention / feed-forward weights
            if isinstance(module, nn.Linear):
                module.to(torch.bfloat16)
    if channels_last is None:
        channels_last = device.type == "cpu"
    if channels_last:
        gen = gen.to(memory_format=torch.channels_last)
        disc = disc.to(memory_format=torch.channels_last)
    for p in list(gen.parameters()) + list(disc.parameters()):
        p.requires_grad_(False)
    return gen.to(device), disc.to(device)


class Scorer:
    """Scores display-space images with one SquidModel on one device."""

    def __init__(self, model: Any, device: str | torch.device = "auto", bf16: bool = False,
                 compile: bool = False, precision: str | None = None,
                 tta: bool | Sequence[Nuisance | None] = False) -> None:
        self.model = model
        #: Views whose logits are averaged (``(None,)``: no test-time averaging).
        self.tta_views: tuple[Nuisance | None, ...] = (
            TTA_VIEWS if tta is True else (None,) if tta is False else (None, *tta))
        self.device = resolve_device(device)
        #: ``fp32``, ``mixed`` or ``bf16`` (see `prepare_inference`); ``bf16=True`` is
        #: short for ``precision="bf16"``; by default ``mixed`` on a CPU, else ``fp32``.
        self.precision = "bf16" if bf16 else (precision or default_precision(self.device))
        self.bf16 = self.precision == "bf16"
        self.size = int(model.config.image_size)
        self._gen, self._disc = prepare_inference(model, self.device, precision=self.precision)
        self._channels_last = self.device.type == "cpu"
        self._cpu_nets: tuple[nn.Module, nn.Module] | None = None
        self._compiled: CompiledPipeline | None = None
        # compile=True: compile on the first batch-1 score. Otherwise compile() may run in
        # another thread while this one scores: until it is done, scoring stays eager.
        self._compile_lazily = bool(compile)
        self._compile_lock = threading.Lock()
        if compile:
            self._compiled = CompiledPipeline(self._gen, self._disc, self.size, self.device,
                                              self._channels_last, self.bf16)
        meta = model.metadata or {}
        #: Reference quantiles every input is matched to (model files written by
        #: ``squid calibrate --standardise``), or None: images as they are.
        self.intensity_reference = reference_of(meta)
        cal = meta.get("calibration")
        self.calibrated = bool(cal)
        self.mu = float(cal["mu"]) if cal else 0.0
        self.sigma = float(cal["sigma"]) if cal else 1.0
        #: Every named operating point stored in the model file (e.g. balanced, high
        #: sensitivity), as values; results are flagged at the file's default, and a
        #: client reads them at another with ``result.at(point)`` (nothing is re-scored).
        self.operating_points: tuple[OperatingPoint, ...] = operating_points_of(meta)
        self.operating_point: OperatingPoint | None = default_operating_point_of(meta)
        #: The model file's out-of-distribution guard, or None (older files).
        self.guard = getattr(model, "ood_guard", None)
        heat = meta.get("heatmap") or {}
        self._scale_max = heat.get("scale_max")
        self._heat_mean = self._heat_std = None
        if model.heatmap_mean is not None and model.heatmap_std is not None:
            self._heat_mean = model.heatmap_mean.detach().float().cpu().numpy()
            self._heat_std = model.heatmap_std.detach().float().cpu().numpy()

    def score_from_logit(self, raw: float) -> float:
        """``100 * (1 - sigmoid((raw - mu) / sigma))``, numerically safe."""
        z = (raw - self.mu) / self.sigma
        if z >= 0:
            return 100.0 * math.exp(-z) / (1.0 + math.exp(-z))
        return 100.0 / (1.0 + math.exp(z))

    def compile(self) -> bool:
        """Compile the batch-1 pipeline now (slow, once; see ``compiled.py``). True when
        compiled; False when compilation is impossible here (then scoring stays eager).

        Safe to call from a background thread while another thread scores: the networks
        are only read, and scores use the compiled pipeline once it is ready."""
        with self._compile_lock:
            if self._compiled is None:
                self._compiled = CompiledPipeline(self._gen, self._disc, self.size,
                                                  self.device, self._channels_last, self.bf16)
            return self._compiled.compile()

    @property
    def compiled(self) -> bool:
        """True once batch-1 scores run the compiled pipeline."""
        return self._compiled is not None and self._compiled.ready

    @property
    def compile_error(self) -> str | None:
        """Why compilation failed, when it was asked for and did."""
        return None if self._compiled is None else self._compiled.error

    def _features(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor | None:
        """The guard's descriptor, from the same forward pass (None without a guard)."""
        return None if self.guard is None else guard_features(x, embedding)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        compiled = self._compiled
        if len(batch) == 1 and compiled is not None and (
                compiled.ready or (self._compile_lazily and self.compile())):
            x = _model_input(batch, self.device, self._channels_last)
            recon, logits, embedding = compiled(x)
            with torch.inference_mode():
                return _to_numpy(recon, logits, self._features(x, embedding))
        return self._forward(batch, self._gen, self._disc, self.device, self._channels_last)

    @torch.inference_mode()
    def _forward(self, batch: np.ndarray, gen: nn.Module, disc: nn.Module, device: torch.device,
                 channels_last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        x = _model_input(batch, device, channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = gen(x, teacher=False)
            recon = out["recon"]
            logits = disc(recon)
        return _to_numpy(recon, logits, self._features(x, out["embedding"]))

    def _run_with_fallback(
        self, batch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
        """``_run``; when a GPU runs out of memory, free its cache and retry once on the
        CPU (with CPU copies of the networks, built on first need and kept). Returns
        (reconstructions, logits, guard descriptors or None, device used)."""
        try:
            return (*self._run(batch), str(self.device))
        except torch.cuda.OutOfMemoryError:
            if self.device.type != "cuda":
                raise
        # Outside the except block, so the failed attempt's tensors can be freed.
        torch.cuda.empty_cache()
        message = f"{CPU_FALLBACK_NOTE} ({len(batch)} image(s) on {self.device})"
        log.warning("%s", message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        if self._cpu_nets is None:
            self._cpu_nets = prepare_inference(self.model, torch.device("cpu"),
                                               precision=self.precision)
        return (*self._forward(batch, *self._cpu_nets, torch.device("cpu"), True), "cpu")

    def _notes(self, device: str) -> list[str]:
        notes = [] if device == str(self.device) else [CPU_FALLBACK_NOTE]
        if self.compile_error:
            notes.append(f"{COMPILE_FAILED_NOTE} ({self.compile_error})")
        return notes

    def score(self, pixels: np.ndarray) -> AnalysisResult:
        """Score one (H, W) float image in [0, 1] (display space)."""
        return self.score_batch([pixels])[0]

    def score_batch(self, images: Sequence[np.ndarray]) -> list[AnalysisResult]:
        """Score several images in one forward pass; results in input order."""
        if len(images) == 0:
            return []
        t0 = time.perf_counter()
        batch = np.stack([resize_for_model(im, self.size) for im in images])
        if self.intensity_reference is not None:
            batch = np.stack([match_histogram(im, self.intensity_reference) for im in batch])
        views = [batch] + [np.stack([v.apply(im) for im in batch]) for v in self.tta_views[1:]]
        t1 = time.perf_counter()
        recons, logits, features, device = self._run_with_fallback(np.concatenate(views))
        recons = recons[: len(images)]
        logits = logits.reshape(len(views), len(images)).mean(axis=0)
        # The guard judges the image as it is (the first view), not its re-framings.
        distances = (None if features is None
                     else self.guard.distance(features[: len(images)]))
        t2 = time.perf_counter()
        share = 1.0 / len(images)
        results = []
        for i, image in enumerate(images):
            t_post = time.perf_counter()
            shape = np.asarray(image).shape[:2]
            raw = float(logits[i])
            score = self.score_from_logit(raw)
            heat, units, scale_max = make_heatmap(
                batch[i], recons[i], shape, self._heat_mean, self._heat_std, self._scale_max
            )
            recon = np.clip(resize_map(recons[i], shape), 0.0, 1.0)
            status, reason, distance, threshold = SCORED, "", None, None
            if distances is not None:
                distance, threshold = float(distances[i]), float(self.guard.threshold)
                if not distance <= threshold:  # NaN counts as outside
                    status, reason = OUTSIDE, outside_reason(distance, threshold)
            post = time.perf_counter() - t_post
            preprocess = (t1 - t0) * share
            inference = (t2 - t1) * share
            results.append(AnalysisResult(
                score=score,
                raw_logit=raw,
                operating_point=self.operating_point,
                reconstruction=recon.astype(np.float32, copy=False),
                heatmap=heat,
                heatmap_units=units,
                heatmap_scale_max=scale_max,
                model_name=self.model.name,
                model_version=self.model.version,
                device=device,
                notes=self._notes(device),
                timings={"preprocess": preprocess, "inference": inference,
                         "postprocess": post, "total": preprocess + inference + post},
                calibrated=self.calibrated,
                status=status,
                status_reason=reason,
                ood_distance=distance,
                ood_threshold=threshold,
            ))
        return results
