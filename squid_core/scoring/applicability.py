"""Is a file what the model is for? Checked from its tags, before scoring.

A model file declares what it applies to in its JSON metadata (``"applicability"``);
files written before this existed get `DEFAULT_RULES` (chest radiographs)::

    {"modalities": ["CR", "DX"], "body_parts": ["CHEST", "THORAX"], "views": ["PA", "AP"],
     "greyscale": true, "single_frame": true}

An empty tag (a PNG has no modality; many DICOM files leave body part or view empty)
never makes a file not applicable: only a tag that says something else does, and
colour pixels or several frames. The answer is a list of reasons a user can read;
empty means applicable. Pure Python, no model needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_RULES", "ApplicabilityRules", "check_applicability"]

DEFAULT_RULES: dict[str, Any] = {
    "modalities": ["CR", "DX"],
    "body_parts": ["CHEST", "THORAX"],
    "views": ["PA", "AP"],
    "greyscale": True,
    "single_frame": True,
}

_MODALITY_NAMES = {"MR": "an MR image", "US": "an ultrasound image", "CT": "a CT image",
                   "NM": "a nuclear medicine image", "PT": "a PET image", "XA": "an angiogram",
                   "MG": "a mammogram", "OT": "an 'other' (OT) image", "SC": "a secondary capture",
                   "ES": "an endoscopy image", "XC": "a photograph", "RF": "a fluoroscopy image"}
_LATERAL = {"LL", "RL", "LATERAL", "LAT", "LLD", "RLD"}
#: View Position (0018,5101) terms. The reader falls back to Patient Orientation (e.g.
#: "L\\F"), which describes the pixel axes, not the view: such values are not judged.
_VIEW_TERMS = _LATERAL | {"AP", "PA", "RLO", "LLO", "RAO", "LAO", "RPO", "LPO", "OBLIQUE"}


def _upper_list(value: Any, default: list[str]) -> tuple[str, ...]:
    if value is None:
        return tuple(default)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(str(v).strip().upper() for v in value)


@dataclass(frozen=True)
class ApplicabilityRules:
    """What a model applies to; an empty tuple means "any value"."""

    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    views: tuple[str, ...]
    greyscale: bool = True
    single_frame: bool = True

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> ApplicabilityRules:
        """The rules of a model's metadata (its ``"applicability"`` block, or the defaults)."""
        block = (metadata or {}).get("applicability") or {}
        if not isinstance(block, Mapping):
            raise ValueError("the model's 'applicability' metadata must be an object")
        return cls(
            modalities=_upper_list(block.get("modalities"), DEFAULT_RULES["modalities"]),
            body_parts=_upper_list(block.get("body_parts"), DEFAULT_RULES["body_parts"]),
            views=_upper_list(block.get("views"), DEFAULT_RULES["views"]),
            greyscale=bool(block.get("greyscale", True)),
            single_frame=bool(block.get("single_frame", True)),
        )

    def as_metadata(self) -> dict[str, Any]:
        """The ``"applicability"`` block for a model file."""
        return {"modalities": list(self.modalities), "body_parts": list(self.body_parts),
                "views": list(self.views), "greyscale": self.greyscale,
                "single_frame": self.single_frame}


def check_applicability(meta: Any, rules: ApplicabilityRules) -> list[str]:
    """Reasons why the image described by ``meta`` (an ``ImageMetadata``) is not what
    the model is for; an empty list when it is applicable."""
    reasons: list[str] = []
    modality = str(getattr(meta, "modality", "") or "").strip().upper()
    if modality and rules.modalities and modality not in rules.modalities:
        what = _MODALITY_NAMES.get(modality, f"modality {modality}")
        reasons.append(f"{what} (modality {modality}); the model is for "
                       f"{'/'.join(rules.modalities)} radiographs")
    body = str(getattr(meta, "body_part", "") or "").strip().upper()
    if body and rules.body_parts and body not in rules.body_parts:
        reasons.append(f"body part {body}; the model is for {'/'.join(rules.body_parts)}")
    view = str(getattr(meta, "view_position", "") or "").strip().upper()
    if view in _VIEW_TERMS and rules.views and view not in rules.views:
        kind = "a lateral view" if view in _LATERAL else f"view {view}"
        reasons.append(f"{kind} ({view}); the model is for {'/'.join(rules.views)} views")
    if rules.greyscale and bool(getattr(meta, "colour", False)):
        photometric = str(getattr(meta, "photometric", "") or "colour")
        reasons.append(f"a colour image ({photometric}); the model is for greyscale radiographs")
    frames = int(getattr(meta, "frames", 1) or 1)
    if rules.single_frame and frames > 1:
        reasons.append(f"a multi-frame object ({frames} frames, e.g. a cine loop); the model "
                       f"is for single radiographs")
    return reasons
