"""`SquidModel`: generator + discriminator + the metadata that travels with them.

A SquidModel is what a model file holds (see `squid_core.model_file`): the config it
was built from, both networks, a metadata dict (name, version, calibration,
operating points, heatmap settings, training summary, metrics, notes) and optional
per-location residual statistics for the heatmap (``heatmap_mean``/``heatmap_std``,
(H, W) float tensors at the model's input size).
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
from typing import Any

import torch
from torch import nn

from squid_core.model.config import SquidConfig
from squid_core.model.discriminator import (
    PER_IMAGE,
    RUNNING,
    Discriminator,
    with_per_image_statistics,
)
from squid_core.model.generator import SquidGenerator
from squid_core.model.presets import PRESETS, get_preset
from squid_core.version import __version__


def default_metadata(name: str = "squid") -> dict[str, Any]:
    """The metadata of a freshly built, uncalibrated model."""
    return {
        "name": name,
        "version": "0.0.0",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "software_version": __version__,
        "calibration": None,
        "operating_points": [],
        "default_operating_point": None,
        "heatmap": None,
        # How scores evaluate the discriminator's BatchNorms (see discriminator.py).
        # Files written before this key existed used the running averages.
        "discriminator_statistics": PER_IMAGE,
        "training": None,
        "metrics": None,
        "notes": "",
    }


class SquidModel(nn.Module):
    """The SQUID generator and discriminator with their config and metadata."""

    def __init__(
        self,
        config: SquidConfig,
        generator: SquidGenerator | None = None,
        discriminator: Discriminator | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.generator = generator if generator is not None else SquidGenerator(config)
        self.discriminator = (
            discriminator if discriminator is not None else Discriminator(config)
        )
        self.metadata: dict[str, Any] = default_metadata()
        if metadata:
            self.metadata.update(metadata)
        self.heatmap_mean: torch.Tensor | None = None
        self.heatmap_std: torch.Tensor | None = None
        #: The out-of-distribution guard (``squid_core.scoring.ood_guard.OodGuard``) fitted
        #: on the calibration normals, or None (older model files, too few normals).
        self.ood_guard: Any = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    @property
    def discriminator_statistics(self) -> str:
        """``"per-image"`` (the reference's evaluation) or ``"running"`` (older files)."""
        value = self.metadata.get("discriminator_statistics", RUNNING)
        return PER_IMAGE if value == PER_IMAGE else RUNNING

    def scoring_discriminator(self) -> nn.Module:
        """A copy of the discriminator as scores, calibration and validation evaluate
        it, in eval mode: with per-image statistics, or (older files) with the running
        averages. The model's own discriminator is left as it is."""
        if self.discriminator_statistics == PER_IMAGE:
            return with_per_image_statistics(self.discriminator)
        return copy.deepcopy(self.discriminator).eval()

    def save(self, path: str | os.PathLike[str], weights_dtype: torch.dtype | None = None) -> None:
        """Write one .safetensors model file atomically (see `squid_core.model_file`).

        ``weights_dtype=torch.float16`` halves the file (loading casts back to float32).
        """
        from squid_core.model_file import save_model

        save_model(self, path, weights_dtype=weights_dtype)

    def forward(self, x: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
        """Generator output and the discriminator's logits on its reconstruction."""
        out = self.generator(x)
        return out, self.discriminator(out["recon"])


def build_model(preset_or_config: str | SquidConfig | dict[str, Any] = "paper") -> SquidModel:
    """A SquidModel with freshly initialised weights from a preset name, config or config dict."""
    name = "squid"
    if isinstance(preset_or_config, str):
        config = get_preset(preset_or_config)
        name = f"squid-{preset_or_config}"
    elif isinstance(preset_or_config, SquidConfig):
        config = preset_or_config
        for preset_name, preset in PRESETS.items():
            if preset == config:
                name = f"squid-{preset_name}"
    elif isinstance(preset_or_config, dict):
        config = SquidConfig.from_dict(preset_or_config)
    else:
        raise TypeError(
            f"build_model takes a preset name, SquidConfig or dict, not {type(preset_or_config)}"
        )
    return SquidModel(config, metadata={"name": name})
