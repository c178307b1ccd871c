"""``squid import-reference``: convert a checkpoint of the reference SQUID code.

    squid import-reference GENERATOR DISCRIMINATOR --reference-config CONFIG.json \\
        -o MODEL.safetensors [--name NAME] [--queue-pointer N]

GENERATOR and DISCRIMINATOR are the reference's ``state_dict()`` files, as ``.pth``
or ``.safetensors``. A ``.pth`` is read only with ``torch.load(weights_only=True)``,
which refuses any pickle that would construct objects other than tensors and plain
containers, so a hostile file is rejected without running its code. CONFIG.json
holds the reference constructor arguments (``constructor``, ``discriminator``,
``image_size``), like ``tests/data/official_squid/config.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ImportFailure(Exception):
    """A user-facing import error."""


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """Tensors of a reference checkpoint (.pth via weights_only torch.load, or .safetensors)."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ImportFailure(f"checkpoint not found: {path}")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ImportFailure(f"{path.name} is not a readable safetensors file ({exc})") from exc
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ImportFailure(
                f"refused to load {path.name}: it contains objects other than tensors, which "
                "could run code when loaded. Only plain state_dict checkpoints are accepted."
                f" (detail: {str(exc).splitlines()[0]})"
            ) from exc
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise ImportFailure(f"{path.name} is not a readable PyTorch checkpoint ({exc})") from exc
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model"):
            if set(state) == {wrapper} and isinstance(state[wrapper], Mapping):
                state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ImportFailure(f"{path.name} does not hold a state_dict (a mapping of tensors)")
    return {
        (k[len("module."):] if k.startswith("module.") else k): v.float() if v.is_floating_point() else v
        for k, v in state.items()
    }


def import_reference(
    generator: str | Path,
    discriminator: str | Path,
    reference_config: str | Path,
    output: str | Path,
    *,
    name: str | None = None,
    queue_pointer: int = 0,
) -> Any:
    """Convert reference checkpoints into a model file; returns the SquidModel written."""
    from squid_core.model.reference_import import config_from_reference, load_reference_into
    from squid_core.model.squid_model import SquidModel

    try:
        ref_cfg = json.loads(Path(reference_config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportFailure(f"reference config not found: {reference_config}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFailure(f"{reference_config} is not valid JSON ({exc})") from None
    config = config_from_reference(ref_cfg)
    gen_state = read_state_dict(generator)
    disc_state = read_state_dict(discriminator)
    model = SquidModel(config)
    load_reference_into(model, gen_state, disc_state, queue_pointer=queue_pointer)
    model.eval()
    model.metadata["name"] = name or Path(output).stem
    model.metadata["notes"] = (
        f"Imported from reference SQUID checkpoints {Path(generator).name} and "
        f"{Path(discriminator).name} (github.com/tiangexiang/SQUID"
        f"{', commit ' + str(ref_cfg['official_commit']) if ref_cfg.get('official_commit') else ''}"
        "). Not calibrated yet: calibrate it on normal images before scoring studies."
    )
    model.metadata["training"] = {"source": "reference-import", "queue_pointer": queue_pointer}
    model.save(output)
    return model


def _run(args: argparse.Namespace) -> int:
    from squid_core.model.reference_import import ReferenceImportError
    from squid_core.model_file import ModelFileError

    try:
        model = import_reference(
            args.generator, args.discriminator, args.reference_config, args.output,
            name=args.name, queue_pointer=args.queue_pointer,
        )
    except (ImportFailure, ReferenceImportError, ModelFileError) as exc:
        print(f"squid import-reference: error: {exc}", file=sys.stderr)
        return 1
    n_gen = sum(p.numel() for p in model.generator.parameters())
    print(f"wrote {args.output}: {model.name} ({n_gen / 1e6:.2f} M generator parameters, "
          f"{model.config.image_size} px, {model.config.num_patch}x{model.config.num_patch} patches)")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``import-reference`` sub-command."""
    p = subparsers.add_parser(
        "import-reference",
        help="convert checkpoints of the reference SQUID code into a model file",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("generator", help="reference generator state_dict (.pth or .safetensors)")
    p.add_argument("discriminator", help="reference discriminator state_dict (.pth or .safetensors)")
    p.add_argument("--reference-config", required=True, metavar="CONFIG.json",
                   help="reference constructor arguments (constructor, discriminator, image_size)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors")
    p.add_argument("--name", default=None, help="model name (default: output file name)")
    p.add_argument("--queue-pointer", type=int, default=0,
                   help="next queue slot to write (the reference does not save it; default 0)")
    p.set_defaults(func=_run)
