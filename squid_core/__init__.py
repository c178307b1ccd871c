"""SQUID Viewer core: image I/O, the SQUID model, training, scoring. No Qt here.

SQUID: Xiang et al., "SQUID: Deep Feature In-Painting for Unsupervised Anomaly
Detection", CVPR 2023. Public API for scripts::

    import squid_core
    model = squid_core.load_model("resources/models/default.safetensors")
    out = model.generator(x)            # x: (B, 1, H, W) in [0, 1]
    logits = model.discriminator(out["recon"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squid_core.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from squid_core.model.squid_model import SquidModel

__all__ = ["__version__", "build_model", "load_model"]


def build_model(preset_or_config: Any = "paper") -> SquidModel:
    """A SQUID model with freshly initialised weights, from a preset name or a SquidConfig."""
    from squid_core.model.squid_model import build_model as _build

    return _build(preset_or_config)


def load_model(path: Any, device: str = "cpu") -> SquidModel:
    """Load a model file (safetensors + JSON metadata) in eval mode. Never unpickles."""
    from squid_core.model_file import load_model as _load

    return _load(path, device=device)
