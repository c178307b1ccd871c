"""`SquidConfig`: every architectural choice of a SQUID model, as plain data.

The config is what a model file stores next to the weights, so a file can be
rebuilt without code changes: ``SquidConfig.from_dict(cfg.to_dict()) == cfg``.
Validation happens at construction, with messages that name the offending field,
because a config may come from a user-edited JSON file or an imported reference
checkpoint. Derived geometry (patch size, channel widths, memory slot sizes) lives
here too, so every block computes it the same way.

Field names follow the reference implementation (Xiang et al., CVPR 2023,
github.com/tiangexiang/SQUID) where one exists, so its configs map one to one.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal

SkipOp = Literal["concat", "none"]
MemoryKind = Literal["windowed", "per_patch"]

_SKIP_OPS = ("concat", "none")
_MEMORY_KINDS = ("windowed", "per_patch")


class ConfigError(ValueError):
    """A SquidConfig that cannot describe a working model; the message names the field."""


@dataclass(frozen=True)
class DecoderMemorySpec:
    """A learnable memory matrix applied after one decoder stage.

    ``kind="windowed"`` cuts the stage's feature map into ``num_memory`` equal
    windows (a square grid) and gives each window position its own matrix; the
    window is flattened channels-last. This is the reference's
    ``MemoryMatrixBlock``, used by the paper configuration.
    ``kind="per_patch"`` gives each image patch (grid position) its own matrix,
    read with the whole per-patch feature map flattened channels-first. This is
    the reference's ``MemoryMatrixBlockV3``, used by the DigitAnatomy configuration.
    """

    kind: MemoryKind = "windowed"
    num_memory: int = 4

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_memory": self.num_memory}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DecoderMemorySpec:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected an object with 'kind' and 'num_memory' or null")
        unknown = set(data) - {"kind", "num_memory"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        kind = data.get("kind", "windowed")
        num = data.get("num_memory", 4)
        if kind not in _MEMORY_KINDS:
            raise ConfigError(f"{where}.kind must be one of {_MEMORY_KINDS}, got {kind!r}")
        if not isinstance(num, int) or isinstance(num, bool):
            raise ConfigError(f"{where}.num_memory must be an integer, got {num!r}")
        return cls(kind=kind, num_memory=num)


@dataclass(frozen=True)
class SquidConfig:
    """The architecture of a SQUID generator and its discriminator.

    image_size: square input side (images are resized to it, aspect squashed).
    num_patch: the image is cut into num_patch x num_patch patches (grid positions).
    level: number of stride-2 encoder blocks (and of decoder up blocks).
    features_root: channels of the first stage; doubled per level (capped at 16x).
    memory_channel: length of one queue entry = bottleneck channels / 4 x its area.
    num_slots / mem_num_slots: entries per memory queue / per decoder memory matrix.
    shrink_thres: k of the top-k shrinkage of every memory read.
    ratio / decoder_memory_ratio: keep probabilities of the masked shortcut (in-painting
        block) and of the decoder memories' training-time mix; training only.
    initial_combine: the first initial_combine levels work on stitched whole images.
    ops: skip handling per up block, deepest first ("concat" or "none").
    decoder_memory: per stage (0 = shallowest), a DecoderMemorySpec or None.
    dist: build the stop-gradient teacher decoder (distillation).
    drop: dropout in the in-painting feed-forward; attention_heads: its head count.
    discriminator_size / _channels / _kernel: final map side, conv widths, kernel.
    """

    image_size: int = 128
    in_channels: int = 1
    num_patch: int = 2
    level: int = 4
    features_root: int = 32
    memory_channel: int = 2048
    num_slots: int = 200
    mem_num_slots: int = 200
    shrink_thres: int = 5
    ratio: float = 0.95
    decoder_memory_ratio: float = 0.95
    initial_combine: int = 2
    ops: tuple[SkipOp, ...] = ("concat", "concat", "none", "none")
    decoder_memory: tuple[DecoderMemorySpec | None, ...] = (
        None,
        None,
        DecoderMemorySpec("windowed", 4),
        DecoderMemorySpec("windowed", 4),
    )
    dist: bool = True
    drop: float = 0.0
    attention_heads: int = 8
    discriminator_size: int = 4
    discriminator_channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    discriminator_kernel: int = 5

    def __post_init__(self) -> None:
        # Normalise lists (from JSON) into tuples so the config stays hashable.
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "decoder_memory", tuple(self.decoder_memory))
        object.__setattr__(self, "discriminator_channels", tuple(self.discriminator_channels))
        self._validate()

    # ------------------------------------------------------------------ geometry
    @property
    def num_positions(self) -> int:
        """Number of grid positions (patches) per image."""
        return self.num_patch * self.num_patch

    @property
    def patch_size(self) -> int:
        return self.image_size // self.num_patch

    def channels(self, stage: int) -> int:
        """Channel width of encoder/decoder stage ``stage`` (0 = stem).

        Widths double per level and saturate at 16 x ``features_root``, as in
        the reference's filter list.
        """
        return self.features_root * 2 ** min(stage, 4)

    def stage_size(self, stage: int) -> int:
        """Spatial side of stage ``stage``'s feature map (per patch or whole image)."""
        side = self.image_size if stage < self.initial_combine else self.patch_size
        return side // 2**stage

    def stage_is_whole_image(self, stage: int) -> bool:
        """Whether stage ``stage`` holds stitched images (True) or patches (False)."""
        return stage < self.initial_combine

    @property
    def bottleneck_channels(self) -> int:
        return self.channels(self.level)

    @property
    def bottleneck_size(self) -> int:
        return self.patch_size // 2**self.level

    @property
    def position_bits(self) -> int:
        """Bits of the binary grid-position code (``int(log2(P) + 1)``, as the reference)."""
        return int(math.log2(self.num_positions) + 1)

    def decoder_memory_slot_dim(self, stage: int) -> int:
        """Length of one memory slot of the decoder memory after ``stage``."""
        spec = self.decoder_memory[stage]
        if spec is None:
            raise ConfigError(f"decoder_memory[{stage}] is null")
        size = self.stage_size(stage)
        if spec.kind == "per_patch":
            return self.channels(stage) * size * size
        window = size // math.isqrt(spec.num_memory)
        return self.channels(stage) * window * window

    # ---------------------------------------------------------------- validation
    def _validate(self) -> None:
        ints = (
            "image_size", "in_channels", "num_patch", "level", "features_root",
            "memory_channel", "num_slots", "mem_num_slots", "shrink_thres",
            "initial_combine", "attention_heads", "discriminator_size", "discriminator_kernel",
        )
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        for name in ("image_size", "in_channels", "num_patch", "level", "features_root",
                     "num_slots", "mem_num_slots", "shrink_thres", "attention_heads",
                     "discriminator_size", "discriminator_kernel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("ratio", "decoder_memory_ratio"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
                raise ConfigError(f"{name} is a keep probability in (0, 1], got {value!r}")
        if not isinstance(self.drop, (int, float)) or not 0 <= self.drop < 1:
            raise ConfigError(f"drop must be in [0, 1), got {self.drop!r}")
        if not isinstance(self.dist, bool):
            raise ConfigError(f"dist must be true or false, got {self.dist!r}")
        if self.image_size % self.num_patch:
            raise ConfigError(
                f"image_size {self.image_size} is not divisible by num_patch {self.num_patch}"
            )
        if self.patch_size % 2**self.level or self.bottleneck_size < 1:
            raise ConfigError(
                f"patch size {self.patch_size} (image_size / num_patch) must be divisible by "
                f"2**level = {2**self.level}"
            )
        if not 0 <= self.initial_combine <= self.level:
            raise ConfigError(
                f"initial_combine must be between 0 and level ({self.level}), "
                f"got {self.initial_combine}"
            )
        if self.bottleneck_channels % 4:
            raise ConfigError("features_root * 2**level must be divisible by 4 (1x1 reduction)")
        expected_mc = (self.bottleneck_channels // 4) * self.bottleneck_size**2
        if self.memory_channel != expected_mc:
            raise ConfigError(
                f"memory_channel must equal (bottleneck channels / 4) x bottleneck area = "
                f"{self.bottleneck_channels // 4} x {self.bottleneck_size}^2 = {expected_mc}, "
                f"got {self.memory_channel}"
            )
        if self.memory_channel % self.attention_heads:
            raise ConfigError(
                f"memory_channel {self.memory_channel} is not divisible by "
                f"attention_heads {self.attention_heads}"
            )
        if self.memory_channel < 4:
            raise ConfigError("memory_channel must be at least 4 (feed-forward width d/4)")
        if self.shrink_thres > self.num_slots or self.shrink_thres > self.mem_num_slots:
            raise ConfigError(
                f"shrink_thres (top-k = {self.shrink_thres}) cannot exceed the number of "
                f"memory slots ({self.num_slots}, {self.mem_num_slots})"
            )
        if len(self.ops) != self.level:
            raise ConfigError(f"ops needs one entry per level ({self.level}), got {len(self.ops)}")
        for i, op in enumerate(self.ops):
            if op not in _SKIP_OPS:
                raise ConfigError(f"ops[{i}] must be one of {_SKIP_OPS}, got {op!r}")
        if len(self.decoder_memory) != self.level:
            raise ConfigError(
                f"decoder_memory needs one entry per level ({self.level}), "
                f"got {len(self.decoder_memory)}"
            )
        for stage, spec in enumerate(self.decoder_memory):
            if spec is None:
                continue
            if not isinstance(spec, DecoderMemorySpec):
                raise ConfigError(f"decoder_memory[{stage}] must be a DecoderMemorySpec or null")
            self._validate_memory(stage, spec)
        if len(self.discriminator_channels) < 1 or any(
            not isinstance(c, int) or c < 1 for c in self.discriminator_channels
        ):
            raise ConfigError("discriminator_channels must be a non-empty list of positive integers")
        expected_disc = self.image_size // 2 ** len(self.discriminator_channels)
        if self.image_size % 2 ** len(self.discriminator_channels) or (
            self.discriminator_size != expected_disc
        ):
            raise ConfigError(
                f"discriminator_size must be image_size / 2**{len(self.discriminator_channels)} "
                f"= {self.image_size / 2 ** len(self.discriminator_channels):g}, "
                f"got {self.discriminator_size}"
            )
        if self.discriminator_kernel % 2 == 0:
            raise ConfigError("discriminator_kernel must be odd")

    def _validate_memory(self, stage: int, spec: DecoderMemorySpec) -> None:
        where = f"decoder_memory[{stage}]"
        if spec.kind not in _MEMORY_KINDS:
            raise ConfigError(f"{where}.kind must be one of {_MEMORY_KINDS}, got {spec.kind!r}")
        if spec.num_memory < 1:
            raise ConfigError(f"{where}.num_memory must be at least 1")
        if spec.kind == "per_patch":
            if self.stage_is_whole_image(stage):
                raise ConfigError(
                    f"{where}: a per_patch memory needs per-patch features, but stage {stage} "
                    f"is already stitched (initial_combine = {self.initial_combine})"
                )
            if spec.num_memory != self.num_positions:
                raise ConfigError(
                    f"{where}: a per_patch memory needs num_memory = num_patch**2 = "
                    f"{self.num_positions}, got {spec.num_memory}"
                )
            return
        side = math.isqrt(spec.num_memory)
        if side * side != spec.num_memory:
            raise ConfigError(f"{where}.num_memory must be a square number, got {spec.num_memory}")
        if self.stage_size(stage) % side:
            raise ConfigError(
                f"{where}: feature map side {self.stage_size(stage)} is not divisible by "
                f"the {side} x {side} window grid"
            )

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists, not tuples; null for absent decoder memories)."""
        data = asdict(self)
        data["ops"] = list(self.ops)
        data["discriminator_channels"] = list(self.discriminator_channels)
        data["decoder_memory"] = [None if s is None else s.to_dict() for s in self.decoder_memory]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> SquidConfig:
        """Rebuild a config; unknown keys and wrong types raise ConfigError.

        Missing keys take their defaults, so files written by an older version
        that lacked a later-added field still load.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a model config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.default is MISSING and f.default_factory is MISSING:  # pragma: no cover
                    raise ConfigError(f"config key {f.name!r} is missing")
                continue
            kwargs[f.name] = data[f.name]
        for name in ("ops", "discriminator_channels", "decoder_memory"):
            if name in kwargs and not isinstance(kwargs[name], (list, tuple)):
                raise ConfigError(f"{name} must be a list, got {kwargs[name]!r}")
        if "decoder_memory" in kwargs:
            kwargs["decoder_memory"] = tuple(
                None if spec is None else (
                    spec if isinstance(spec, DecoderMemorySpec)
                    else DecoderMemorySpec.from_dict(spec, f"decoder_memory[{i}]")
                )
                for i, spec in enumerate(kwargs["decoder_memory"])
            )
        try:
            return cls(**kwargs)
        except TypeError as exc:  # pragma: no cover - defensive
            raise ConfigError(str(exc)) from exc
