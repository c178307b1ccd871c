"""The training recipe as data (SQUID paper settings by default).

Values follow Xiang et al. (CVPR 2023) and its ``zhang_best`` configuration; see
``shared/design/squid-model.md``. A :class:`TrainConfig` is stored (as a dict) in the
checkpoint and in the model file's ``training`` metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["LossWeights", "TrainConfig"]


@dataclass
class LossWeights:
    """Weights of the five loss terms (paper values)."""

    student: float = 10.0  # MSE(student recon, x)
    teacher: float = 0.01  # MSE(teacher recon, x)
    distill: float = 0.001  # feature distillation, teacher -> student
    gen_adv: float = 0.005  # BCE(D(recon), real): the generator fools D
    disc: float = 0.005  # BCE(D(x), real) + BCE(D(recon), fake)


@dataclass
class TrainConfig:
    """Everything that decides what a training run computes.

    ``max_steps`` (total discriminator steps) cuts a run short (tests, time
    estimates); ``max_seconds`` stops after the first epoch that ends past that much
    training time (resumed runs count earlier sessions); ``patience`` stops when validation AUC has not improved for that
    many epochs (0 = never). ``images_per_epoch`` sets the epoch length when images
    are drawn on the fly (DigitAnatomy). ``bf16`` turns on bfloat16 autocast and
    ``channels_last`` the NHWC memory format (both measured in
    ``bench/train_throughput.py``; bf16 pays on CPUs with AVX512-BF16/AMX and GPUs).
    """

    preset: str = "paper"
    epochs: int = 200
    batch_size: int = 16
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    gen_eps: float = 1e-7
    gen_weight_decay: float = 1e-5
    t_max: int = 300  # cosine schedule length in epochs
    lr_min_factor: float = 0.1  # cosine floor = lr * lr_min_factor
    n_critic: int = 2  # generator step every n_critic discriminator steps
    weights: LossWeights = field(default_factory=LossWeights)
    #: the named recipe these settings started from (squid_core.training.recipes);
    #: the dataclass's own defaults are the paper's
    recipe: str = "paper"
    augment: bool = True
    #: "paper" (random affine) or "acquisition" (squid_core.training.augment,
    #: docs/robustness.md)
    augment_recipe: str = "paper"
    #: match every image's histogram to the training normals' mean (stored in the model
    #: file; squid_core.scoring.standardise); off in the paper's recipe
    standardise: bool = False
    #: exponential moving average of the weights (squid_core.training.weight_average):
    #: validation, the kept best and the model file use the average; None = off (the
    #: paper's recipe)
    ema_decay: float | None = None
    translate: float = 0.05
    scale_range: tuple[float, float] = (0.95, 1.05)
    bf16: bool = False
    channels_last: bool = False
    seed: int = 0
    max_steps: int | None = None
    max_seconds: float | None = None  # wall-clock budget, checked after each epoch
    patience: int = 20
    images_per_epoch: int = 1600
    calibration_max_images: int = 2000
    samples_per_epoch: int = 4  # reconstructions handed to the on_samples callback

    @classmethod
    def for_preset(cls, preset: str, **overrides: Any) -> TrainConfig:
        """The reference's recipe for ``preset``, with ``overrides`` applied.

        ``paper`` and ``compact`` follow ``zhang_best``. ``digitanatomy`` follows the
        reference's ``digit_best``: student MSE weight 1 (not 10, so the adversarial
        term weighs ten times more against it), a generator step after every
        discriminator step (``n_critic`` 1), a cosine floor of lr / 100, and no random
        affine: the grids' only variation is each digit's random resized crop, and the
        anomalies are about where digits are.
        """
        cfg = cls(preset=preset)
        if preset == "digitanatomy":
            cfg.weights = LossWeights(student=1.0)
            cfg.n_critic = 1
            cfg.lr_min_factor = 0.01
            cfg.augment = False
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise TypeError(f"TrainConfig has no setting {key!r}")
            setattr(cfg, key, value)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["scale_range"] = list(self.scale_range)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (newer files)."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw.setdefault("recipe", "")  # written before recipes had names
        if isinstance(kw.get("weights"), dict):
            kw["weights"] = LossWeights(**kw["weights"])
        for key in ("betas", "scale_range"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)
