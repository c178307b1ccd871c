"""Scorer: any-size images in, AnalysisResult at input size out; calibration, bf16, devices."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from squid_core.model import SquidConfig, build_model
from squid_core.model.discriminator import PER_IMAGE, RUNNING
from squid_core.model.reference_import import config_from_reference, load_reference_into
from squid_core.model.squid_model import SquidModel
from squid_core.scoring.device import DeviceUnavailableError, resolve_device
from squid_core.scoring.heatmap import UNITS_RESIDUAL, UNITS_SIGMA
from squid_core.scoring.result import AnalysisResult
from squid_core.scoring.scorer import Scorer

FIXTURE = Path(__file__).parent / "data" / "official_squid"
SMALL = SquidConfig(features_root=4, memory_channel=256, num_slots=8, mem_num_slots=8,
                    shrink_thres=3)


@pytest.fixture(scope="module")
def shared_model() -> SquidModel:
    model = SquidModel(config_from_reference(json.loads((FIXTURE / "config.json").read_text())))
    load_reference_into(model, load_file(str(FIXTURE / "official_generator.safetensors")),
                        load_file(str(FIXTURE / "official_discriminator.safetensors")))
    return model.eval()


@pytest.fixture
def fixture_model(shared_model: SquidModel) -> Iterator[SquidModel]:
    """The module's reference model, on the default per-image path; a test that changes
    its metadata must restore it (checked after each test, so no test runs on a leak)."""
    assert shared_model.discriminator_statistics == PER_IMAGE
    before = copy.deepcopy(shared_model.metadata)
    yield shared_model
    assert shared_model.metadata == before, "a test left the shared model's metadata changed"


def test_uncalibrated_score_on_arbitrary_size(fixture_model: SquidModel) -> None:
    img = np.random.default_rng(0).random((301, 173)).astype(np.float32)
    res = Scorer(fixture_model, device="cpu").score(img)
    assert isinstance(res, AnalysisResult)
    assert 0.0 <= res.score <= 100.0
    assert res.reconstruction.shape == img.shape and res.reconstruction.dtype == np.float32
    assert res.heatmap.shape == img.shape and res.heatmap_units == UNITS_RESIDUAL
    assert 0.0 <= res.reconstruction.min() and res.reconstruction.max() <= 1.0
    assert res.flagged is None and res.operating_point is None and res.calibrated is False
    assert math.isclose(res.score, 100 * (1 - 1 / (1 + math.exp(-res.raw_logit))), rel_tol=1e-6)
    assert set(res.timings) >= {"preprocess", "inference", "total"} and res.device == "cpu"


def test_score_matches_model_outputs_at_model_size(fixture_model: SquidModel,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    x = load_file(str(FIXTURE / "expected_eval_outputs.safetensors"))
    # The reference outputs were made with D's running averages; restored after the test.
    monkeypatch.setitem(fixture_model.metadata, "discriminator_statistics", RUNNING)
    results = Scorer(fixture_model, "cpu").score_batch([x["input"][i, 0].numpy() for i in range(4)])
    logits = [r.raw_logit for r in results]
    assert np.allclose(logits, x["disc_logit"].flatten().numpy(), atol=1e-4)
    assert np.allclose(results[2].reconstruction, x["recon"][2, 0].numpy(), atol=1e-4)


def test_calibration_operating_point_and_normalised_heatmap() -> None:
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    img = np.random.default_rng(1).random((200, 240)).astype(np.float32)
    raw = Scorer(model, "cpu").score(img).raw_logit
    model.metadata.update({
        "calibration": {"mu": raw - 0.5, "sigma": 0.5, "n_images": 10},
        "operating_points": [{"name": "balanced", "threshold": 20.0, "rule": "test"}],
        "default_operating_point": "balanced",
        "heatmap": {"units": "sigma above normal", "scale_max": 4.0, "shape": [128, 128]},
    })
    model.heatmap_mean = torch.full((128, 128), 0.05)
    model.heatmap_std = torch.full((128, 128), 0.1)
    res = Scorer(model, "cpu").score(img)
    assert res.calibrated
    assert math.isclose(res.score, 100 * (1 - 1 / (1 + math.exp(-1.0))), rel_tol=1e-4)
    assert res.flagged is True and res.operating_point.name == "balanced"
    assert res.heatmap_units == UNITS_SIGMA and res.heatmap_scale_max == 4.0
    assert res.heatmap.min() >= 0.0 and res.heatmap.shape == img.shape


def test_bf16_scores_within_half_a_point(fixture_model: SquidModel) -> None:
    x = load_file(str(FIXTURE / "expected_eval_outputs.safetensors"))["input"]
    images = [x[i, 0].numpy() for i in range(4)]
    fp32 = Scorer(fixture_model, "cpu").score_batch(images)
    bf16 = Scorer(fixture_model, "cpu", bf16=True).score_batch(images)
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a.score - b.score) < 0.5
        assert np.abs(a.reconstruction - b.reconstruction).max() < 0.02


def test_mixed_precision_keeps_scores_and_is_the_default_where_bf16_is_native(
        fixture_model: SquidModel) -> None:
    x = load_file(str(FIXTURE / "expected_eval_outputs.safetensors"))["input"]
    images = [x[i, 0].numpy() for i in range(4)]
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # no emulated bf16 by default
    assert Scorer(fixture_model, "cpu").precision == ("mixed" if native else "fp32")
    mixed = Scorer(fixture_model, "cpu", precision="mixed")
    assert mixed.precision == "mixed" and not mixed.bf16
    # Only the in-painting block's linear layers are bfloat16; convolutions stay float32.
    dtypes = {type(m).__name__: m.weight.dtype for m in mixed._gen.modules()
              if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}
    assert dtypes == {"Linear": torch.bfloat16, "Conv2d": torch.float32}
    fp32 = Scorer(fixture_model, "cpu", precision="fp32")
    assert all(m.weight.dtype == torch.float32 for m in fp32._gen.modules()
               if isinstance(m, torch.nn.Linear))
    for a, b in zip(fp32.score_batch(images), mixed.score_batch(images), strict=True):
        assert abs(a.score - b.score) < 0.01
        assert np.abs(a.reconstruction - b.reconstruction).max() < 1e-3
    with pytest.raises(ValueError, match="precision must be one of"):
        Scorer(fixture_model, "cpu", precision="fp16")


def test_scorer_rejects_bad_images(fixture_model: SquidModel) -> None:
    scorer = Scorer(fixture_model, "cpu")
    with pytest.raises(ValueError, match="2-D"):
        scorer.score(np.zeros((3, 64, 64), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        scorer.score(np.zeros((64, 64), np.uint8))
    assert scorer.score_batch([]) == []


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailableError, match="CUDA"):
            resolve_device("cuda")
    if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        with pytest.raises(DeviceUnavailableError, match="MPS"):
            resolve_device("mps")
