"""CUDA out of memory while scoring: the cache is emptied, the batch retried on the CPU
once, and the result says so (``device`` is cpu, ``notes`` explains, a warning is
logged and issued). The error is injected for real, as PyTorch raises it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import squid_core
from squid_core.scoring import scorer as scorer_module
from squid_core.scoring.scorer import CPU_FALLBACK_NOTE, Scorer
from viewer._testsupport import tiny_model_file


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tiny_model_file(tmp_path_factory.mktemp("model") / "tiny.safetensors")
    return squid_core.load_model(path, device="cpu")


def _images(n: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.random((80, 96), dtype=np.float32) for _ in range(n)]


def _as_if_on_gpu(monkeypatch, scorer: Scorer, failures: int) -> dict[str, int]:
    """Make ``scorer`` believe it runs on CUDA and have its first ``failures`` GPU passes
    raise ``torch.cuda.OutOfMemoryError``; count GPU passes and cache flushes."""
    calls = {"gpu": 0, "empty_cache": 0}
    real_forward = Scorer._forward
    scorer.device = torch.device("cuda", 0)

    def forward(self, batch, gen, disc, device, channels_last):
        if device.type == "cuda":
            calls["gpu"] += 1
            if calls["gpu"] <= failures:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            device, channels_last = torch.device("cpu"), True  # "the GPU" that has room
        return real_forward(self, batch, gen, disc, device, channels_last)

    monkeypatch.setattr(Scorer, "_forward", forward)
    monkeypatch.setattr(scorer_module.torch.cuda, "empty_cache",
                        lambda: calls.__setitem__("empty_cache", calls["empty_cache"] + 1))
    return calls


def test_out_of_memory_falls_back_to_cpu_with_a_message(model, monkeypatch, caplog) -> None:
    images = _images()
    expected = Scorer(model, "cpu").score_batch(images)
    scorer = Scorer(model, "cpu")
    calls = _as_if_on_gpu(monkeypatch, scorer, failures=1)
    with caplog.at_level(logging.WARNING), pytest.warns(RuntimeWarning, match="out of memory"):
        results = scorer.score_batch(images)
    assert calls == {"gpu": 1, "empty_cache": 1}
    assert len(results) == 2
    for got, want in zip(results, expected, strict=True):
        assert got.device == "cpu" and got.notes == [CPU_FALLBACK_NOTE]
        assert got.score == pytest.approx(want.score, abs=1e-3)
        assert got.heatmap.shape == (80, 96)
    assert any(CPU_FALLBACK_NOTE in r.getMessage() for r in caplog.records)

    # The next batch tries the GPU again; with room there, it is scored there, no note.
    again = scorer.score(images[0])
    assert calls["gpu"] == 2 and again.device == "cuda:0" and again.notes == []


def test_out_of_memory_twice_is_raised_not_looped(model, monkeypatch) -> None:
    scorer = Scorer(model, "cpu")
    calls = _as_if_on_gpu(monkeypatch, scorer, failures=1)

    def cpu_fails_too(batch, *args):
        raise torch.cuda.OutOfMemoryError("out of memory on the retry")

    real = Scorer._forward
    monkeypatch.setattr(Scorer, "_forward", lambda self, batch, gen, disc, device, cl: (
        cpu_fails_too(batch) if device.type == "cpu" and calls["gpu"] >= 1
        else real(self, batch, gen, disc, device, cl)))
    with pytest.warns(RuntimeWarning), pytest.raises(torch.cuda.OutOfMemoryError):
        scorer.score(_images(1)[0])


def test_out_of_memory_on_the_cpu_is_not_retried(model, monkeypatch) -> None:
    scorer = Scorer(model, "cpu")

    def forward(self, *args):
        raise torch.cuda.OutOfMemoryError("odd, but not ours to retry")

    monkeypatch.setattr(Scorer, "_forward", forward)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        scorer.score(_images(1)[0])


def test_score_panel_shows_the_fallback(qtbot, model, monkeypatch) -> None:
    from viewer.score_panel import ScorePanel

    scorer = Scorer(model, "cpu")
    _as_if_on_gpu(monkeypatch, scorer, failures=1)
    with pytest.warns(RuntimeWarning):
        result = scorer.score(_images(1)[0])
    panel = ScorePanel()
    qtbot.addWidget(panel)
    panel.set_result(result)
    assert panel.device.text() == f"cpu — {CPU_FALLBACK_NOTE}"
