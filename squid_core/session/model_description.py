"""The active model as the session knows it: a description read from the file's header.

The weights live only in the analysis service's worker process; the client (the viewer,
the node) needs the model's name, version, operating points, calibration, heatmap scale
and applicability, which the model file's JSON metadata holds. Reading the header costs
no torch import and no weights (hundreds of MiB less in the viewer's process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from squid_core.safetensors_header import ModelFileError, read_squid_metadata
from squid_core.scoring.operating_point import (
    OperatingPoint,
    default_operating_point_of,
    operating_points_of,
)

#: The ``format`` of a SQUID Viewer model file's metadata document.
MODEL_FORMAT = "squid-viewer-model"


class ModelDescriptionError(ValueError):
    """The file cannot be described as a SQUID model; ``str(e)`` says why."""


@dataclass(frozen=True)
class ModelDescription:
    """What the session shows and flags with; no weights."""

    name: str
    version: str
    path: str = ""
    device: str = "cpu"
    operating_points: tuple[OperatingPoint, ...] = ()
    default_operating_point: OperatingPoint | None = None
    calibrated: bool = False
    heatmap_units: str = ""
    heatmap_scale_max: float | None = None
    applicability: dict[str, Any] = field(default_factory=dict)
    compiled: bool = False
    compile_error: str | None = None

    def with_device(self, device: str) -> ModelDescription:
        """The same model on ``device`` (as the worker reports it once started)."""
        return replace(self, device=str(device))


def describe_model_file(path: str | os.PathLike[str], device: str = "cpu") -> ModelDescription:
    """Describe the model in ``path`` from its header alone (cheap; any thread).

    Raises :class:`ModelDescriptionError` for a file that is not a SQUID Viewer model or
    whose operating points are unreadable; damaged weights are found by the worker that
    loads them (the service then fails to start, with the reason).
    """
    name = Path(path).name
    if not Path(path).is_file():
        raise ModelDescriptionError(f"model file not found: {path}")
    try:
        doc = read_squid_metadata(path)
    except ModelFileError as exc:
        raise ModelDescriptionError(str(exc)) from None
    if doc.get("format") != MODEL_FORMAT:
        raise ModelDescriptionError(f"{name} is not a SQUID Viewer model "
                                    f"(format {doc.get('format')!r})")
    try:
        points = operating_points_of(doc)
        default = default_operating_point_of(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDescriptionError(f"{name}: unreadable operating points ({exc})") from None
    heatmap = doc.get("heatmap") or {}
    scale = heatmap.get("scale_max")
    return ModelDescription(
        name=str(doc.get("name") or Path(path).stem), version=str(doc.get("version") or ""),
        path=str(path), device=str(device), operating_points=points,
        default_operating_point=default, calibrated=doc.get("calibration") is not None,
        heatmap_units=str(heatmap.get("units") or ""),
        heatmap_scale_max=None if scale is None else float(scale),
        applicability=dict(doc.get("applicability") or {}))


def describe_scorer(scorer: Any) -> ModelDescription:
    """Describe a scorer object (``Scorer`` or a test's scripted one) used in-process."""
    model = getattr(scorer, "model", None)
    meta = dict(getattr(model, "metadata", None) or {})
    heatmap = meta.get("heatmap") or {}
    points = tuple(getattr(scorer, "operating_points", ()) or ())
    return ModelDescription(
        name=str(getattr(model, "name", None) or meta.get("name") or "scorer"),
        version=str(getattr(model, "version", None) or meta.get("version") or ""),
        device=str(getattr(scorer, "device", "cpu")), operating_points=points,
        default_operating_point=getattr(scorer, "operating_point", None),
        calibrated=meta.get("calibration") is not None,
        heatmap_units=str(heatmap.get("units") or ""),
        heatmap_scale_max=heatmap.get("scale_max"),
        applicability=dict(meta.get("applicability") or {}))
