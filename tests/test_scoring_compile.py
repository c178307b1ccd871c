"""The optional compiled (torch.compile) scoring path: same scores, and a clear fallback."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

import squid_core
from squid_core.scoring.scorer import COMPILE_FAILED_NOTE, Scorer
from tests.test_training_helpers import TINY


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return squid_core.build_model(TINY)


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((50, 41), dtype=np.float32)


HAS_COMPILER = any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++")
                   if c)


@pytest.mark.skipif(not HAS_COMPILER, reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_scores_equal_eager_scores(model) -> None:
    eager = Scorer(model, device="cpu")
    compiled = Scorer(model, device="cpu", compile=True)
    assert compiled.compile(), compiled.compile_error
    for seed in range(3):
        a, b = eager.score(_image(seed)), compiled.score(_image(seed))
        assert b.notes == []
        assert b.raw_logit == pytest.approx(a.raw_logit, abs=1e-4)
        assert b.score == pytest.approx(a.score, abs=1e-3)
        np.testing.assert_allclose(b.reconstruction, a.reconstruction, atol=1e-4)
    # Batches other than 1 run the eager networks (no recompilation): same numbers.
    batch = compiled.score_batch([_image(0), _image(1)])
    assert batch[0].raw_logit == pytest.approx(eager.score(_image(0)).raw_logit, abs=1e-4)


@pytest.mark.skipif(not HAS_COMPILER, reason="torch.compile on the CPU needs a C++ compiler")
def test_scores_while_another_thread_compiles(model) -> None:
    """The viewer compiles in the background and scores meanwhile: eager until the
    compiled pipeline is ready, then compiled, the same numbers throughout."""
    import threading

    scorer = Scorer(model, device="cpu")
    expected = Scorer(model, device="cpu").score(_image(0)).raw_logit
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(scorer.compile()))
    thread.start()
    during = []
    while thread.is_alive():
        during.append(scorer.score(_image(0)).raw_logit)
    thread.join()
    assert outcome == [True], scorer.compile_error
    assert during and all(v == pytest.approx(expected, abs=1e-4) for v in during)
    assert scorer.compiled
    after = scorer.score(_image(0))
    assert after.raw_logit == pytest.approx(expected, abs=1e-4) and after.notes == []


def test_scoring_pipeline_traces_as_one_graph(model) -> None:
    """A graph break (e.g. boolean-mask indexing, whose shape depends on the data) splits
    the compiled pipeline into pieces with Python in between: measurably slower."""
    from squid_core.scoring.compiled import _Pipeline
    from squid_core.scoring.scorer import prepare_inference

    gen, disc = prepare_inference(model, torch.device("cpu"), precision="mixed")
    x = torch.rand(1, 1, model.config.image_size, model.config.image_size)
    with torch.no_grad():
        explained = torch._dynamo.explain(_Pipeline(gen, disc).eval())(x)
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


def test_compile_failure_falls_back_to_eager_with_a_note(model, monkeypatch) -> None:
    def no_compiler(*_args, **_kwargs):
        raise RuntimeError("no C++ compiler found\ndetails")

    monkeypatch.setattr(torch, "compile", no_compiler)
    scorer = Scorer(model, device="cpu", compile=True)
    result = scorer.score(_image(0))
    assert scorer.compile_error == "RuntimeError: no C++ compiler found"
    assert result.notes and result.notes[0].startswith(COMPILE_FAILED_NOTE)
    expected = Scorer(model, device="cpu").score(_image(0))
    assert result.raw_logit == pytest.approx(expected.raw_logit, abs=1e-6)
