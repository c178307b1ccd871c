"""The SQUID model (Xiang et al., "SQUID: Deep Feature In-Painting for Unsupervised
Anomaly Detection", CVPR 2023), one module per building block.

Example::

    from squid_core.model import build_model
    model = build_model("compact")
    out = model.generator(x)                  # x: (B, 1, 128, 128) in [0, 1]
    logits = model.discriminator(out["recon"])

See README.md in this folder for the presets' sizes and the reference mapping.
"""

from squid_core.model.config import ConfigError, DecoderMemorySpec, SquidConfig
from squid_core.model.presets import PRESETS, get_preset
from squid_core.model.squid_model import SquidModel, build_model

__all__ = [
    "PRESETS",
    "ConfigError",
    "DecoderMemorySpec",
    "SquidConfig",
    "SquidModel",
    "build_model",
    "get_preset",
]
