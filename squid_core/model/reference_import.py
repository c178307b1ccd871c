"""Import checkpoints trained with the reference SQUID code (github.com/tiangexiang/SQUID).

Two pieces: `config_from_reference` turns the reference's constructor arguments
(``AE(...)`` keyword arguments plus the discriminator's ``size`` and the image size,
in the form of the parity fixture's ``config.json``) into a `SquidConfig`, and
`convert_state_dicts` renames and reshapes the reference's ``state_dict`` tensors to
ours. No reference code is needed or executed; the inputs are plain tensors.

Key mapping (reference -> ours, generator):

=====================================================  =====================================
``in_conv.conv.conv1.{0,1}``                            ``encoder.stem.entry.{conv,norm}``
``down_blocks.i.mpconv.conv2.{0,1,3,4}``                ``encoder.downs.i.body{1,2}.{conv,norm}``
``inpaint_block.bottleneck_conv1.{0,1}``                ``inpaint.reduce.{conv,norm}``
``inpaint_block.memory.p.memMatrix``  (P of them)       ``inpaint.queue.slots[p]``
``inpaint_block.attention.in_proj_{weight,bias}``       ``inpaint.attention.{query,key_value}``
``inpaint_block.attention.out_proj``                    ``inpaint.attention.out``
``inpaint_block.attn_norm{1,2}``                        ``inpaint.{attn_norm,ff_norm}``
``inpaint_block.ff.{0,3}``                              ``inpaint.{ff_in,ff_out}``
``inpaint_block.bottleneck_conv2.{0,1}``                ``inpaint.expand.{conv,norm}``
``up_blocks.k.conv.*`` / ``teacher_ups.k.conv.*``       ``decoder.ups.k.*`` / ``teacher.ups.k.*``
``memory_blocks.i.memory.j.memMatrix``                  ``decoder.memories.i.slots[j]``
``out_conv.conv`` / ``teacher_out.conv``                ``decoder.head`` / ``teacher.head``
=====================================================  =====================================

Discriminator: ``conv_model.{0,2,5,8,11}`` -> ``layers.{0..4}.conv``,
``conv_model.{3,6,9,12}`` -> ``layers.{1..4}.norm``, ``regressor`` -> ``head``.

The reference does not save its queue write pointer (it is not a registered buffer),
so the importer sets it to ``queue_pointer`` (default 0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from squid_core.model.config import ConfigError, DecoderMemorySpec, SquidConfig

_REF_MEMORY_KINDS = {"MemoryMatrixBlock": "windowed", "MemoryMatrixBlockV3": "per_patch"}
_BLOCK_PARTS = {
    "conv1.0": "entry.conv",
    "conv1.1": "entry.norm",
    "conv2.0": "body1.conv",
    "conv2.1": "body1.norm",
    "conv2.3": "body2.conv",
    "conv2.4": "body2.norm",
}


class ReferenceImportError(ValueError):
    """A reference checkpoint or config that cannot be converted; the message says why."""


def _default_decoder_memory(level: int, ops: list[str]) -> list[dict[str, Any] | None]:
    """The reference's hard-coded decoder memories (before ``decoder_memory`` existed)."""
    specs: list[dict[str, Any] | None] = [None] * level
    if level == 4:
        if ops[1] != "none":
            specs[2] = {"type": "MemoryMatrixBlock", "multiplier": 64, "num_memory": 4}
        if ops[0] != "none":
            specs[3] = {"type": "MemoryMatrixBlock", "multiplier": 16, "num_memory": 4}
    return specs


def config_from_reference(ref: Mapping[str, Any]) -> SquidConfig:
    """Build a SquidConfig from a reference config document.

    ``ref`` holds ``constructor`` (the ``AE`` keyword arguments), ``discriminator``
    (``{"size": ...}``) and ``image_size``, as the parity fixture's config.json.
    """
    try:
        cons = dict(ref["constructor"])
        image_size = int(ref["image_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReferenceImportError(
            "the reference config needs 'constructor' (the AE arguments) and 'image_size'"
        ) from exc
    disc = ref.get("discriminator") or {}
    level = int(cons.get("level", 4))
    ops = list(cons.get("ops", ["concat", "concat", "none", "none"]))
    features_root = int(cons.get("features_root", 32))
    shrink = cons.get("shrink_thres", 5)
    if not isinstance(shrink, int) or isinstance(shrink, bool):
        raise ReferenceImportError(
            f"shrink_thres {shrink!r}: only the integer (top-k Gumbel) shrinkage of the paper "
            "is supported"
        )
    if cons.get("initial_combine") is None:
        raise ReferenceImportError("initial_combine must be an integer (the reference needs one)")
    if int(cons.get("num_in_ch", 1)) != 1:
        raise ReferenceImportError("only single-channel (grayscale) models are supported")
    dm_ref = cons.get("decoder_memory")
    if dm_ref is None:
        dm_ref = _default_decoder_memory(level, ops)
    if len(dm_ref) != level:
        raise ReferenceImportError(f"decoder_memory has {len(dm_ref)} entries for {level} levels")
    specs: list[DecoderMemorySpec | None] = []
    for stage, entry in enumerate(dm_ref):
        if entry is None:
            specs.append(None)
            continue
        kind = _REF_MEMORY_KINDS.get(entry.get("type"))
        if kind is None:
            raise ReferenceImportError(
                f"decoder_memory[{stage}]: type {entry.get('type')!r} is not supported "
                f"(supported: {', '.join(_REF_MEMORY_KINDS)})"
            )
        specs.append(DecoderMemorySpec(kind, int(entry["num_memory"])))
    try:
        config = SquidConfig(
            image_size=image_size,
            in_channels=1,
            num_patch=int(cons.get("num_patch", 2)),
            level=level,
            features_root=features_root,
            memory_channel=int(cons.get("memory_channel", 2048)),
            num_slots=int(cons.get("num_slots", 200)),
            mem_num_slots=int(cons.get("mem_num_slots", 200)),
            shrink_thres=shrink,
            ratio=float(cons.get("ratio", 0.95)),
            initial_combine=int(cons["initial_combine"]),
            ops=tuple(ops),
            decoder_memory=tuple(specs),
            dist=bool(cons.get("dist", False)),
            drop=float(cons.get("drop", 0.0)),
            discriminator_size=int(disc.get("size", image_size // 32)),
        )
    except ConfigError as exc:
        raise ReferenceImportError(f"the reference config is not a valid SQUID model: {exc}") from exc
    for stage, entry in enumerate(dm_ref):
        if entry is None or "multiplier" not in entry:
            continue
        ref_dim = config.channels(stage) * int(entry["multiplier"])
        ours = config.decoder_memory_slot_dim(stage)
        if ref_dim != ours:
            raise ReferenceImportError(
                f"decoder_memory[{stage}]: multiplier {entry['multiplier']} gives slot size "
                f"{ref_dim}, but the feature geometry needs {ours}; the reference model "
                "would not run either"
            )
    return config


def _block(prefix_ref: str, prefix_ours: str, ref: Mapping[str, torch.Tensor],
           out: dict[str, torch.Tensor], used: set[str]) -> None:
    for part, ours in _BLOCK_PARTS.items():
        for key in [k for k in ref if k.startswith(f"{prefix_ref}.{part}.")]:
            out[f"{prefix_ours}.{ours}.{key[len(prefix_ref) + len(part) + 2:]}"] = ref[key]
            used.add(key)


def _stack(ref: Mapping[str, torch.Tensor], pattern: str, used: set[str]) -> torch.Tensor:
    rx = re.compile(pattern)
    found = sorted((int(m.group(1)), k) for k in ref if (m := rx.fullmatch(k)))
    if not found or [i for i, _ in found] != list(range(len(found))):
        raise ReferenceImportError(f"missing or non-contiguous memory tensors matching {pattern}")
    used.update(k for _, k in found)
    return torch.stack([ref[k] for _, k in found])


def convert_generator(config: SquidConfig, ref: Mapping[str, torch.Tensor],
                      queue_pointer: int = 0) -> dict[str, torch.Tensor]:
    """Reference ``AE.state_dict()`` -> our ``SquidGenerator`` state dict."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    _block("in_conv.conv", "encoder.stem", ref, out, used)
    for i in range(config.level):
        _block(f"down_blocks.{i}.mpconv", f"encoder.downs.{i}", ref, out, used)
        _block(f"up_blocks.{i}.conv", f"decoder.ups.{i}", ref, out, used)
        if config.dist:
            _block(f"teacher_ups.{i}.conv", f"teacher.ups.{i}", ref, out, used)
    simple = {
        "inpaint_block.bottleneck_conv1.0": "inpaint.reduce.conv",
        "inpaint_block.bottleneck_conv1.1": "inpaint.reduce.norm",
        "inpaint_block.bottleneck_conv2.0": "inpaint.expand.conv",
        "inpaint_block.bottleneck_conv2.1": "inpaint.expand.norm",
        "inpaint_block.attention.out_proj": "inpaint.attention.out",
        "inpaint_block.attn_norm1": "inpaint.attn_norm",
        "inpaint_block.attn_norm2": "inpaint.ff_norm",
        "inpaint_block.ff.0": "inpaint.ff_in",
        "inpaint_block.ff.3": "inpaint.ff_out",
        "out_conv.conv": "decoder.head",
        "teacher_out.conv": "teacher.head",
    }
    for src, dst in simple.items():
        for key in [k for k in ref if k.startswith(src + ".")]:
            out[dst + key[len(src):]] = ref[key]
            used.add(key)
    d = config.memory_channel
    for suffix in ("weight", "bias"):
        key = f"inpaint_block.attention.in_proj_{suffix}"
        if key not in ref:
            raise ReferenceImportError(f"missing {key}")
        out[f"inpaint.attention.query.{suffix}"] = ref[key][:d]
        out[f"inpaint.attention.key_value.{suffix}"] = ref[key][d:]
        used.add(key)
    out["inpaint.queue.slots"] = _stack(ref, r"inpaint_block\.memory\.(\d+)\.memMatrix", used)
    out["inpaint.queue.pointer"] = torch.full(
        (config.num_positions,), int(queue_pointer) % config.num_slots, dtype=torch.int64
    )
    for stage, spec in enumerate(config.decoder_memory):
        if spec is not None:
            out[f"decoder.memories.{stage}.slots"] = _stack(
                ref, rf"memory_blocks\.{stage}\.memory\.(\d+)\.memMatrix", used
            )
    leftover = sorted(set(ref) - used)
    if leftover:
        shown = ", ".join(leftover[:5]) + (" ..." if len(leftover) > 5 else "")
        raise ReferenceImportError(
            f"{len(leftover)} generator tensors do not belong to this configuration: {shown}"
        )
    return out


def convert_discriminator(config: SquidConfig,
                          ref: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reference ``SimpleDiscriminator.state_dict()`` -> our ``Discriminator`` state dict."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for layer in range(len(config.discriminator_channels)):
        conv_idx = 0 if layer == 0 else 2 + 3 * (layer - 1)
        mapping = {f"conv_model.{conv_idx}.": f"layers.{layer}.conv."}
        if layer > 0:
            mapping[f"conv_model.{conv_idx + 1}."] = f"layers.{layer}.norm."
        for src, dst in mapping.items():
            for key in [k for k in ref if k.startswith(src)]:
                out[dst + key[len(src):]] = ref[key]
                used.add(key)
    for key in [k for k in ref if k.startswith("regressor.")]:
        out["head." + key[len("regressor."):]] = ref[key]
        used.add(key)
    leftover = sorted(set(ref) - used)
    if leftover:
        raise ReferenceImportError(
            f"discriminator tensors not in this configuration: {', '.join(leftover[:5])}"
        )
    return out


def convert_state_dicts(
    config: SquidConfig,
    generator: Mapping[str, torch.Tensor],
    discriminator: Mapping[str, torch.Tensor],
    queue_pointer: int = 0,
) -> dict[str, torch.Tensor]:
    """Both reference state dicts -> one ``SquidModel`` state dict (``generator.*``, ...)."""
    state = {f"generator.{k}": v for k, v in convert_generator(config, generator, queue_pointer).items()}
    state.update({f"discriminator.{k}": v for k, v in convert_discriminator(config, discriminator).items()})
    return state


def load_reference_into(model: Any, generator: Mapping[str, torch.Tensor],
                        discriminator: Mapping[str, torch.Tensor], queue_pointer: int = 0) -> None:
    """Copy converted reference weights into ``model`` (a SquidModel), checking every shape."""
    state = convert_state_dicts(model.config, generator, discriminator, queue_pointer)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ReferenceImportError(
            f"the reference checkpoint lacks {len(missing)} tensors, e.g. {', '.join(missing[:5])}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ReferenceImportError(
                f"{key}: shape {tuple(value.shape)} in the checkpoint, "
                f"{tuple(expected[key].shape)} expected from the config"
            )
        if value.dtype.is_floating_point != expected[key].dtype.is_floating_point:
            raise ReferenceImportError(f"{key}: dtype {value.dtype} is not {expected[key].dtype}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
