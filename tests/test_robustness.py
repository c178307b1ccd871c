"""The robustness yardstick (squid_core.scoring.robustness, bench/robustness.py) on real
ZhangLab images of the bundled model's validation split (tests/data/zhanglab_val)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from squid_core.io import read_image
from squid_core.scoring.nuisance import Nuisance
from squid_core.scoring.robustness import format_table, robustness_table

ROOT = Path(__file__).resolve().parent.parent
VAL = ROOT / "tests" / "data" / "zhanglab_val"
MODEL = ROOT / "resources" / "models" / "default.safetensors"


def _images(folder: Path) -> list[np.ndarray]:
    return [read_image(f).frame(0) for f in sorted(folder.iterdir())]


def test_table_follows_a_score_that_reads_brightness():
    """A 'model' whose logit is the mean brightness (bright = real-looking): brighter
    normals move away from the abnormal side, darker ones towards it."""
    normals, abnormals = _images(VAL / "normal"), _images(VAL / "pneumonia")

    def logits(images):
        return np.array([float(im.mean()) for im in images])

    rows = robustness_table(logits, normals, abnormals,
                            [Nuisance("gamma", 0.5), Nuisance("gamma", 2.0),
                             Nuisance("noise", 0.001)], n_boot=200,
                            flag_below=float(np.median([im.mean() for im in normals])))
    by = {r.label: r for r in rows}
    assert [r.label for r in rows] == ["none", "gamma=0.5", "gamma=2", "noise=0.001"]
    assert by["none"].auc_shift == 0.5 and by["none"].mean_logit_shift == 0.0
    assert by["gamma=0.5"].auc_shift < 0.2 and by["gamma=0.5"].mean_logit_shift > 0
    assert by["gamma=2"].auc_shift > 0.8 and by["gamma=2"].mean_logit_shift < 0
    assert abs(by["noise=0.001"].auc_shift - 0.5) < 0.1
    assert by["gamma=0.5"].auc_disease > by["none"].auc_disease > by["gamma=2"].auc_disease
    for r in rows:
        assert r.auc_disease_low <= r.auc_disease <= r.auc_disease_high
    assert not by["gamma=2"].holds
    # flagged when the logit is at or below the normals' median brightness: half the
    # untouched normals, almost all darkened ones, almost none of the brightened ones
    assert by["none"].specificity == 0.5
    assert by["gamma=2"].specificity < 0.2 < 0.8 < by["gamma=0.5"].specificity
    table = format_table(rows, "median")
    assert table.count("\n") == len(rows) + 1 and "gamma 2 (darker)" in table
    assert "specificity at 'median'" in table and "| 0.500 |" in table


def test_flagging_logit_is_the_scores_threshold():
    from squid_core.scoring.calibration import scores_from_logits
    from squid_core.scoring.robustness import flagging_logit

    raw = flagging_logit(77.23, -6.164, 1.677)
    below, above = scores_from_logits(np.array([raw - 1e-6, raw + 1e-6]), -6.164, 1.677)
    assert below >= 77.23 > above
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        flagging_logit(100.0, 0.0, 1.0)


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="at least one normal"):
        robustness_table(lambda ims: np.zeros(len(ims)), [], [np.zeros((4, 4))], [])


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "robustness.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_measures_the_bundled_model_on_real_images(tmp_path):
    out = tmp_path / "rows.json"
    proc = _bench(str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
                  str(VAL / "pneumonia"), "--only", "gamma=0.8", "zoom_out=1.1",
                  "--bootstrap", "200", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "8 normal, 8 abnormal images" in proc.stdout
    assert "| gamma 0.8 (brighter) |" in proc.stdout
    assert "specificity at 'balanced'" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [r["label"] for r in rows] == ["none", "gamma=0.8", "zoom_out=1.1"]
    assert rows[0]["auc_shift"] == 0.5
    assert all(0.0 <= r["specificity"] <= 1.0 for r in rows)
    for r in rows:
        assert 0.0 <= r["auc_shift"] <= 1.0
        assert r["auc_disease_low"] <= r["auc_disease"] <= r["auc_disease_high"]
    # the untouched row is the model's own AUC on these images, as `squid eval` ranks them
    from squid_core.cli import main

    report = tmp_path / "eval.json"
    assert main(["eval", "--model", str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
                 str(VAL / "pneumonia"), "--device", "cpu", "--quiet", "--bootstrap", "0",
                 "--json", str(report)]) == 0
    evaluated = json.loads(report.read_text())
    assert rows[0]["auc_disease"] == pytest.approx(evaluated["auc"])
    balanced = next(op for op in evaluated["operating_points"] if op["name"] == "balanced")
    assert rows[0]["specificity"] == pytest.approx(balanced["specificity"])


def test_bench_times_test_time_averaging():
    proc = _bench(str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
                  str(VAL / "pneumonia"), "--tta-cost")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("CPU time per image"))
    ratio = float(line.rsplit("(", 1)[1].rstrip("x)"))
    assert ratio > 1.5  # three forward passes instead of one


@pytest.fixture(scope="module")
def unstandardised_model(tmp_path_factory) -> Path:
    """The bundled model's weights without its own intensity reference: what the bench's
    training-free ``--standardise`` and the scorer's test-time averaging are measured on."""
    import squid_core
    from squid_core.scoring.standardise import METADATA_KEY

    model = squid_core.load_model(MODEL)
    model.metadata.pop(METADATA_KEY, None)
    path = tmp_path_factory.mktemp("plain") / "plain.safetensors"
    model.save(path)
    return path


def test_bench_standardises_before_scoring(tmp_path, unstandardised_model):
    out = tmp_path / "rows.json"
    proc = _bench(str(unstandardised_model), "--normal", str(VAL / "normal"), "--abnormal",
                  str(VAL / "pneumonia"), "--only", "gamma=0.7", "--bootstrap", "100",
                  "--standardise", "--reference", str(VAL / "normal"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "standardised yes" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    # histogram matching undoes a gamma: the transformed normals score (almost) as before
    assert abs(rows[1]["auc_shift"] - 0.5) < 0.1 and abs(rows[1]["mean_logit_shift"]) < 0.1


def test_bench_says_what_is_wrong(tmp_path):
    proc = _bench(str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
                  str(VAL / "pneumonia"), "--only", "rotate=5")
    assert proc.returncode == 2 and "unknown nuisance 'rotate'" in proc.stderr
    proc = _bench(str(tmp_path / "missing.safetensors"), "--normal", str(VAL / "normal"),
                  "--abnormal", str(VAL / "pneumonia"))
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    proc = _bench(str(MODEL), "--split", str(tmp_path / "none.csv"))
    assert proc.returncode == 2 and "give --normal and --abnormal" in proc.stderr


def test_scorer_test_time_averaging_averages_the_views_logits(unstandardised_model):
    import squid_core
    from squid_core.scoring.nuisance import zoom_in, zoom_out
    from squid_core.scoring.scorer import TTA_VIEWS, Scorer, resize_for_model

    model = squid_core.load_model(unstandardised_model)
    plain, tta = Scorer(model, device="cpu"), Scorer(model, device="cpu", tta=True)
    assert plain.tta_views == (None,) and tta.tta_views == TTA_VIEWS
    images = _images(VAL / "normal")[:2]
    averaged = tta.score_batch(images)
    for image, result in zip(images, averaged, strict=True):
        x = resize_for_model(image, plain.size)
        views = [x, zoom_in(x, 1.08), zoom_out(x, 1.08)]
        logits = [r.raw_logit for r in plain.score_batch(views)]
        assert result.raw_logit == pytest.approx(float(np.mean(logits)), abs=1e-3)
        assert result.score == pytest.approx(tta.score_from_logit(result.raw_logit))
        alone = plain.score(image)
        np.testing.assert_allclose(result.reconstruction, alone.reconstruction, atol=1e-4)
    one_view = Scorer(model, device="cpu", tta=[Nuisance("gamma", 0.8)])
    assert one_view.tta_views == (None, Nuisance("gamma", 0.8))
