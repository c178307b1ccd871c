"""Parity: the reference SQUID's weights, imported, compute the reference's outputs.

The fixture (tests/data/official_squid, from github.com/tiangexiang/SQUID, MIT) holds
a small reference model in eval mode and its outputs on four chest X-rays.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import squid_core
from squid_core.cli import main as cli_main
from squid_core.model.reference_import import config_from_reference, load_reference_into
from squid_core.model.squid_model import SquidModel

FIXTURE = Path(__file__).parent / "data" / "official_squid"
TOL = 1e-4


@pytest.fixture(scope="module")
def expected() -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURE / "expected_eval_outputs.safetensors"))


@pytest.fixture(scope="module")
def imported_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parity") / "official.safetensors"
    rc = cli_main([
        "import-reference",
        str(FIXTURE / "official_generator.safetensors"),
        str(FIXTURE / "official_discriminator.safetensors"),
        "--reference-config", str(FIXTURE / "config.json"),
        "-o", str(out), "--name", "official-fixture",
    ])
    assert rc == 0
    return out


def _max_errors(model: SquidModel, expected: dict[str, torch.Tensor]) -> dict[str, float]:
    with torch.inference_mode():
        out = model.generator(expected["input"])
        logits = model.discriminator(out["recon"])
    errs = {k: float((out[k] - expected[k]).abs().max()) for k in ("recon", "teacher_recon", "embedding")}
    errs["disc_logit"] = float((logits - expected["disc_logit"]).abs().max())
    return errs


def test_parity_through_cli_and_model_file(imported_file: Path, expected: dict) -> None:
    model = squid_core.load_model(imported_file, device="cpu")
    assert not model.generator.training and not model.discriminator.training
    assert model.name == "official-fixture"
    errs = _max_errors(model, expected)
    assert all(e < TOL for e in errs.values()), errs


def test_parity_through_function(expected: dict) -> None:
    cfg = config_from_reference(json.loads((FIXTURE / "config.json").read_text()))
    model = SquidModel(cfg)
    load_reference_into(model, load_file(str(FIXTURE / "official_generator.safetensors")),
                        load_file(str(FIXTURE / "official_discriminator.safetensors")))
    model.eval()
    errs = _max_errors(model, expected)
    assert all(e < TOL for e in errs.values()), errs
    assert model.generator(expected["input"])["embedding"].shape == (4, 64, 8, 8)


def test_parity_is_not_vacuous(imported_file: Path, expected: dict) -> None:
    """Disturbing the memory queue must move the reconstruction beyond the tolerance.

    The fixture model is barely trained (6 steps), so its reconstruction is almost
    flat and the in-painting path moves it by only ~3e-4; parity errors are ~1e-7.
    tests/test_model_blocks.py checks the memory and attention maths more sharply.
    """
    model = squid_core.load_model(imported_file)
    with torch.no_grad():
        model.generator.inpaint.queue.slots.mul_(-1.0)
    with torch.inference_mode():
        recon = model.generator(expected["input"])["recon"]
    assert float((recon - expected["recon"]).abs().max()) > 2 * TOL


def test_fused_inference_copy_keeps_parity(imported_file: Path, expected: dict) -> None:
    from squid_core.scoring.scorer import prepare_inference

    model = squid_core.load_model(imported_file)
    model.metadata["discriminator_statistics"] = "running"  # the fixture's eval-mode D
    gen, disc = prepare_inference(model, torch.device("cpu"))
    x = expected["input"].contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        recon = gen(x, teacher=False)["recon"]
        logits = disc(recon)
    assert float((recon - expected["recon"]).abs().max()) < TOL
    assert float((logits - expected["disc_logit"]).abs().max()) < TOL


def test_scoring_discriminator_is_the_references_per_image_evaluation(imported_file: Path,
                                                                       expected: dict) -> None:
    """The reference scores with its discriminator in training mode on batches of one
    image (eval.py never calls discriminator.eval(); test batch size 1). Our scorer's
    per-image statistics give the same logits for a whole batch, and leave the
    running averages alone."""
    import copy

    from squid_core.scoring.scorer import prepare_inference

    model = squid_core.load_model(imported_file)
    assert model.discriminator_statistics == "per-image"  # imported reference checkpoints
    recon = expected["recon"]
    reference = copy.deepcopy(model.discriminator).train()
    with torch.no_grad():
        per_image = torch.cat([reference(recon[i:i + 1]) for i in range(len(recon))])
    running_before = model.discriminator.state_dict()
    _gen, disc = prepare_inference(model, torch.device("cpu"))
    with torch.inference_mode():
        ours = disc(recon.contiguous(memory_format=torch.channels_last))
    assert float((ours - per_image).abs().max()) < TOL
    # ... and it is not the running-average evaluation the fixture recorded.
    assert float((ours - expected["disc_logit"]).abs().max()) > 10 * TOL
    for k, v in model.discriminator.state_dict().items():
        assert torch.equal(v, running_before[k]), k
