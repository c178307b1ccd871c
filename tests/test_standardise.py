"""Histogram-matching intensity standardisation (squid_core.scoring.standardise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from squid_core.io import read_image
from squid_core.scoring.nuisance import gamma, zoom_in
from squid_core.scoring.standardise import match_histogram, reference_quantiles

VAL = Path(__file__).parent / "data" / "zhanglab_val"


def _images(folder: Path) -> list[np.ndarray]:
    return [read_image(f).frame(0) for f in sorted(folder.iterdir())]


def test_matching_undoes_exposure_but_not_framing():
    normals = _images(VAL / "normal")
    ref = reference_quantiles(normals)
    assert ref.shape == (257,) and np.all(np.diff(ref) >= 0)
    chest = normals[0]
    matched = match_histogram(chest, ref)
    # the result has the reference's quantiles ...
    np.testing.assert_allclose(np.quantile(matched, [0.1, 0.5, 0.9]),
                               np.interp([0.1, 0.5, 0.9], np.linspace(0, 1, 257), ref),
                               atol=0.02)
    # ... and brighter / darker exposures of one chest come out the same
    for g in (0.7, 1.4):
        np.testing.assert_allclose(match_histogram(gamma(chest, g), ref), matched, atol=1e-6)
    # a tighter crop is another picture, not another exposure: it stays different
    assert np.abs(match_histogram(zoom_in(chest, 1.25), ref) - matched).mean() > 0.05


def test_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        reference_quantiles([])
    with pytest.raises(ValueError, match="2-D"):
        match_histogram(np.zeros((2, 3, 3)), np.linspace(0, 1, 5))


def _tiny(tmp_path: Path):
    import squid_core
    from viewer._testsupport import tiny_model_file

    return squid_core.load_model(tiny_model_file(tmp_path / "tiny.safetensors"))


def test_a_model_file_with_a_reference_is_scored_standardised(tmp_path):
    from squid_core.model_file import ModelFileError
    from squid_core.scoring.scorer import Scorer
    from squid_core.scoring.standardise import METADATA_KEY, attach_reference

    model = _tiny(tmp_path)
    chest = _images(VAL / "normal")[0]
    plain = Scorer(model, device="cpu")
    assert plain.intensity_reference is None
    assert plain.score(chest).raw_logit != pytest.approx(plain.score(gamma(chest, 0.6)).raw_logit)
    attach_reference(model, np.stack([np.asarray(im) for im in _images(VAL / "normal")]))
    path = tmp_path / "std.safetensors"
    model.save(path)
    import squid_core

    loaded = squid_core.load_model(path)
    assert loaded.metadata[METADATA_KEY]["n_images"] == 8
    std = Scorer(loaded, device="cpu")
    assert std.intensity_reference is not None
    a, b = std.score(chest), std.score(gamma(chest, 0.6))
    assert a.raw_logit == pytest.approx(b.raw_logit, abs=1e-3)  # exposure no longer matters
    # a file whose entry this version cannot apply is refused with a clear message
    loaded.metadata[METADATA_KEY] = {"method": "clahe"}
    loaded.save(tmp_path / "bad.safetensors")
    with pytest.raises(ModelFileError, match="unknown intensity standardisation"):
        squid_core.load_model(tmp_path / "bad.safetensors")


def test_calibrate_and_train_store_and_apply_the_reference(tmp_path, monkeypatch):
    import squid_core
    from squid_core.cli import main
    from squid_core.scoring.standardise import METADATA_KEY
    from squid_core.training import trainer
    from viewer._testsupport import tiny_model_file

    model_path = tiny_model_file(tmp_path / "tiny.safetensors")
    out = tmp_path / "cal.safetensors"
    rc = main(["calibrate", "--model", str(model_path), "--normal", str(VAL / "normal"),
               "--standardise", "--workers", "1", "--device", "cpu", "-o", str(out)])
    assert rc == 0
    meta = squid_core.load_model(out).metadata
    assert meta[METADATA_KEY]["n_images"] == 8 and len(meta[METADATA_KEY]["quantiles"]) == 257
    # re-calibrating at a site without the flag keeps the stored reference
    again = tmp_path / "site.safetensors"
    assert main(["calibrate", "--model", str(out), "--normal", str(VAL / "pneumonia"),
                 "--workers", "1", "--device", "cpu", "-o", str(again)]) == 0
    assert squid_core.load_model(again).metadata[METADATA_KEY] == meta[METADATA_KEY]

    from test_training_helpers import write_pngs

    seen: list[int] = []
    real = trainer.match_batch

    def spy(x, reference):
        seen.append(x.shape[0])
        return real(x, reference)

    monkeypatch.setattr(trainer, "match_batch", spy)
    normal = write_pngs(tmp_path / "normal", 8, seed=0)
    trained = tmp_path / "m.safetensors"
    assert main(["train", "--preset", "compact", "--normal", str(normal), "--val-count", "2",
                 "--standardise", "--epochs", "1", "--max-steps", "1", "--batch-size", "4",
                 "--device", "cpu", "--quiet", "--threads", "1", "--out", str(trained)]) == 0
    m = squid_core.load_model(trained).metadata
    assert m["training"]["config"]["standardise"] is True
    assert m[METADATA_KEY]["n_images"] == 6 and seen  # training batches were matched
