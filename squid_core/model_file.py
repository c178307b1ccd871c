"""One `.safetensors` file per model: weights plus a JSON metadata document.

Layout (see docs/architecture.md): tensors ``generator.*`` and ``discriminator.*``
(including the memory-queue slots and write pointers and BatchNorm statistics),
optionally ``heatmap.mean`` / ``heatmap.std`` (per-location residual statistics at
the model's input size); the safetensors metadata key ``"squid"`` holds one JSON
document with format, format_version, name, version, created, software_version,
config, calibration, operating_points, default_operating_point, heatmap,
training, metrics and notes.

Why safetensors: loading never unpickles, so a model file cannot run code. This
module additionally parses the header itself (`squid_core.safetensors_header`, the
one header reader, shared with the model library) before handing the file to
safetensors, so damaged, truncated, foreign or hostile files (an enormous declared
header, invalid JSON, offsets past the end) fail with a `ModelFileError` whose
message a user can act on, and checks every tensor's name, shape and dtype against
a model built from the stored config. Half-precision weights are accepted and cast
to float32. Writes are atomic: a temporary file in the same folder is written,
fsynced and renamed over the target, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from squid_core.atomic_file import atomic_output
from squid_core.safetensors_header import (
    FORMAT,
    FORMAT_VERSION,
    SQUID_KEY,
    ModelFileError,
    read_safetensors_header,
    squid_document,
)
from squid_core.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from squid_core.model.squid_model import SquidModel

METADATA_KEY = SQUID_KEY

_FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                 "F64": torch.float64}
_INT_DTYPES = {"I64": torch.int64}
_METADATA_FIELDS = ("name", "version", "created", "software_version", "calibration",
                    "operating_points", "default_operating_point", "heatmap", "training",
                    "metrics", "notes")
_OOD_TENSORS = ("ood.mean", "ood.scale", "ood.precision")


# ---------------------------------------------------------------------------- saving
def build_document(model: SquidModel) -> dict[str, Any]:
    """The JSON metadata document for ``model`` (format fields + metadata + config)."""
    meta = dict(model.metadata)
    doc: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
    for key in _METADATA_FIELDS:
        doc[key] = meta.pop(key, None)
    doc["software_version"] = __version__
    if doc["operating_points"] is None:
        doc["operating_points"] = []
    if doc["notes"] is None:
        doc["notes"] = ""
    doc["config"] = model.config.to_dict()
    guard = getattr(model, "ood_guard", None)
    doc["ood"] = guard.metadata() if guard is not None else None
    for key, value in meta.items():  # extra keys survive a round trip
        doc.setdefault(key, value)
    return doc


def _tensors_of(model: SquidModel, weights_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if weights_dtype is not None:
        tensors = {k: v.to(weights_dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    mean, std = model.heatmap_mean, model.heatmap_std
    if (mean is None) != (std is None):
        raise ModelFileError("heatmap statistics need both a mean and a std map")
    if mean is not None and std is not None:
        if mean.shape != std.shape or mean.dim() != 2:
            raise ModelFileError("heatmap mean and std must be (H, W) maps of equal shape")
        tensors["heatmap.mean"] = mean.detach().to("cpu", torch.float32).contiguous()
        tensors["heatmap.std"] = std.detach().to("cpu", torch.float32).contiguous()
    guard = getattr(model, "ood_guard", None)
    if guard is not None:
        tensors.update({k: v.contiguous() for k, v in guard.tensors().items()})
    return tensors


def save_model(
    model: SquidModel, path: str | os.PathLike[str], weights_dtype: torch.dtype | None = None
) -> Path:
    """Write ``model`` to ``path`` atomically (temp file + fsync + os.replace).

    ``weights_dtype`` (e.g. ``torch.float16``) stores the floating-point weights and
    queues in that type to halve the file; loading casts them back to float32.
    """
    from safetensors.torch import save

    path = Path(path)
    doc = build_document(model)
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"the model's metadata cannot be stored as JSON: {exc}") from exc
    tensors = _tensors_of(model, weights_dtype)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ModelFileError(f"cannot save the model: folder {folder} does not exist")
    try:
        data = save(tensors, metadata={METADATA_KEY: text})
    except Exception as exc:  # safetensors' own errors (e.g. shared tensors)
        raise ModelFileError(f"cannot save the model to {path}: {exc}") from exc
    try:
        with atomic_output(path) as handle:
            handle.write(data)
    except OSError as exc:
        raise ModelFileError(f"cannot save the model to {path}: {exc.strerror or exc}") from exc
    return path


# --------------------------------------------------------------------------- loading
def read_header(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate the safetensors framing of ``path``; return (tensor entries, squid document).

    The header is read by `squid_core.safetensors_header` (the one reader, one size
    limit); here every tensor's byte range is checked against the file's size.
    Raises ModelFileError for anything that is not an intact SQUID Viewer model file.
    """
    name = Path(path).name
    parsed = read_safetensors_header(path)
    doc = squid_document(parsed, name)
    header = parsed.tensors
    data_len = parsed.data_bytes
    end = 0
    for key, entry in header.items():
        try:
            start, stop = (int(v) for v in entry["data_offsets"])
            entry["dtype"], list(entry["shape"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{name}: tensor entry {key!r} is malformed") from None
        if not 0 <= start <= stop:
            raise ModelFileError(f"{name}: tensor {key!r} has invalid offsets")
        end = max(end, stop)
    if end != data_len:
        raise ModelFileError(
            f"{name} is truncated or damaged: the header describes {end} bytes of weights, "
            f"the file holds {data_len}"
        )
    return header, doc


def _check_document(doc: dict[str, Any], name: str) -> None:
    cal = doc.get("calibration")
    if cal is not None:
        try:
            mu, sigma = float(cal["mu"]), float(cal["sigma"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{name}: calibration needs numbers 'mu' and 'sigma'") from None
        if not sigma > 0 or mu != mu:
            raise ModelFileError(f"{name}: calibration sigma must be positive (got {sigma})")
    ops = doc.get("operating_points") or []
    if not isinstance(ops, list) or not all(
        isinstance(op, dict) and "name" in op and isinstance(op.get("threshold"), (int, float))
        for op in ops
    ):
        raise ModelFileError(f"{name}: operating_points must be a list of {{name, threshold}}")
    default = doc.get("default_operating_point")
    if default is not None and default not in {op["name"] for op in ops}:
        raise ModelFileError(f"{name}: default operating point {default!r} is not defined")
    from squid_core.scoring.standardise import reference_of

    try:
        reference_of(doc)
    except ValueError as e:
        raise ModelFileError(f"{name}: {e}") from None


def _guard_of(doc: dict[str, Any], tensors: dict[str, torch.Tensor], name: str) -> Any:
    """The file's out-of-distribution guard, or None (older files have none)."""
    from squid_core.scoring.ood_guard import FEATURES, OodGuard

    meta = doc.get("ood")
    if not tensors and not meta:
        return None
    if not isinstance(meta, dict) or set(tensors) != set(_OOD_TENSORS):
        raise ModelFileError(f"{name}: the out-of-distribution guard is incomplete "
                             f"(it needs the 'ood' metadata and {', '.join(_OOD_TENSORS)})")
    try:
        guard = OodGuard.from_file(meta, tensors)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{name}: the out-of-distribution guard is invalid: {exc}") from exc
    return guard if guard.features == FEATURES else None


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> SquidModel:
    """Load a model file into a `SquidModel` in eval mode on ``device``. Never unpickles.

    ``device`` is "cpu", "cuda", "mps" or "auto" (see `squid_core.scoring.device`);
    the heatmap statistics stay on the CPU (they are used with numpy).
    """
    from safetensors import SafetensorError, safe_open

    from squid_core.model.config import ConfigError, SquidConfig
    from squid_core.model.squid_model import SquidModel

    path = Path(path)
    name = path.name
    header, doc = read_header(path)
    _check_document(doc, name)
    try:
        config = SquidConfig.from_dict(doc.get("config"))
    except ConfigError as exc:
        raise ModelFileError(f"{name}: the stored model configuration is invalid: {exc}") from exc
    model = SquidModel(config)
    expected = model.state_dict()
    stored = set(header)
    heat = {"heatmap.mean", "heatmap.std"} & stored
    ood = set(_OOD_TENSORS) & stored
    missing = sorted(set(expected) - stored)
    unexpected = sorted(stored - set(expected) - heat - ood)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unknown tensors (e.g. {', '.join(unexpected[:3])})")
        raise ModelFileError(f"{name} does not match its configuration: " + "; ".join(parts))
    for key, ref in expected.items():
        entry = header[key]
        if list(entry["shape"]) != list(ref.shape):
            raise ModelFileError(
                f"{name}: tensor {key} has shape {tuple(entry['shape'])}, the configuration "
                f"needs {tuple(ref.shape)}"
            )
        allowed = _FLOAT_DTYPES if ref.dtype.is_floating_point else _INT_DTYPES
        if entry["dtype"] not in allowed:
            raise ModelFileError(f"{name}: tensor {key} has dtype {entry['dtype']}, "
                                 f"expected one of {', '.join(allowed)}")
    if len(heat) == 1:
        raise ModelFileError(f"{name}: heatmap statistics need both heatmap.mean and heatmap.std")
    for key in heat:
        entry = header[key]
        if entry["dtype"] not in _FLOAT_DTYPES or len(entry["shape"]) != 2:
            raise ModelFileError(f"{name}: {key} must be a 2-D float map")
    try:
        state: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            for key in header:
                state[key] = fh.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{name} is damaged and cannot be read ({exc})") from exc
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"{name} is damaged: tensor {key} contains NaN or infinity")
    mean, std = state.pop("heatmap.mean", None), state.pop("heatmap.std", None)
    model.ood_guard = _guard_of(doc, {k: state.pop(k) for k in ood}, name)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    if mean is not None and std is not None:
        if mean.shape != std.shape:
            raise ModelFileError(f"{name}: heatmap.mean and heatmap.std differ in shape")
        model.heatmap_mean, model.heatmap_std = mean.float(), std.float()
    model.metadata = {k: v for k, v in doc.items()
                      if k not in ("format", "format_version", "config")}
    model.eval()
    from squid_core.scoring.device import resolve_device

    return model.to(resolve_device(device))
