"""Choosing the torch device for inference: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailableError(RuntimeError):
    """A forced device that this machine does not have; the message says what to do."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``"auto" | "cpu" | "cuda" | "mps"`` (or "cuda:N") to an available torch.device.

    ``auto`` picks CUDA when a GPU is usable, else MPS on Apple silicon, else CPU.
    Forcing a device that is missing raises DeviceUnavailableError.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device).strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in _CHOICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(_CHOICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "CUDA was requested but no usable NVIDIA GPU / CUDA build of PyTorch was found; "
                "use device 'auto' or 'cpu'"
            )
        if ":" in name and int(name.split(":", 1)[1]) >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"{name} was requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
    if kind == "mps" and not _mps_available():
        raise DeviceUnavailableError(
            "Apple MPS was requested but is not available on this machine; use 'auto' or 'cpu'"
        )
    return torch.device(name)
