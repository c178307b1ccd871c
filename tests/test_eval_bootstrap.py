"""``squid eval`` with stratified bootstrap intervals, on real ZhangLab validation images
scored by the bundled model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import squid_core
from squid_core.cli import main
from squid_core.cli.eval import evaluate
from squid_core.cli.score import ScoredFile

ROOT = Path(__file__).resolve().parent.parent
VAL = ROOT / "tests" / "data" / "zhanglab_val"
MODEL = ROOT / "resources" / "models" / "default.safetensors"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "report.json"
    rc = main(["eval", "--model", str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
               str(VAL / "pneumonia"), "--device", "cpu", "--quiet", "--bootstrap", "500",
               "--bootstrap-seed", "3", "--json", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_auc_and_every_operating_point_carry_an_interval(evaluated, capsys):
    r = evaluated
    assert r["bootstrap"] == {"resamples": 500, "seed": 3, "stratified": True}
    ci = r["auc_ci"]
    assert ci["estimate"] == pytest.approx(r["auc"]) and ci["level"] == 0.95
    assert ci["low"] <= r["auc"] <= ci["high"] and ci["high"] - ci["low"] > 0.02
    assert {op["name"] for op in r["operating_points"]} == {"balanced", "high sensitivity"}
    for op in r["operating_points"]:
        for rate in ("sensitivity", "specificity"):
            c = op[f"{rate}_ci"]
            assert c["estimate"] == pytest.approx(op[rate])
            assert 0.0 <= c["low"] <= op[rate] <= c["high"] <= 1.0


def test_intervals_are_reproducible_and_stratified(evaluated):
    images = evaluated["images"]
    normal = [ScoredFile.from_dict(i) for i in images if i["label"] == 0]
    abnormal = [ScoredFile.from_dict(i) for i in images if i["label"] == 1]
    model = squid_core.load_model(MODEL)
    again = evaluate(normal, abnormal, model, n_boot=500, seed=3)
    assert again["auc_ci"]["low"] == pytest.approx(evaluated["auc_ci"]["low"])
    assert again["auc_ci"]["high"] == pytest.approx(evaluated["auc_ci"]["high"])
    # all-normal-flagged extremes: stratified resamples keep both classes in every
    # resample, so the AUC interval is always defined
    assert evaluate(normal, abnormal, model, n_boot=50, seed=0)["auc_ci"]["low"] is not None
    assert evaluate(normal, abnormal, model)["auc_ci"] is None  # n_boot 0: no intervals


def test_printed_table_shows_the_intervals(tmp_path, capsys):
    rc = main(["eval", "--model", str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
               str(VAL / "pneumonia"), "--device", "cpu", "--quiet", "--bootstrap", "200"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "95 % CI (stratified bootstrap, 200 resamples, seed 0): AUC 0." in out
    assert out.count("95 % CI: sensitivity") == 2
    rc = main(["eval", "--model", str(MODEL), "--normal", str(VAL / "normal"), "--abnormal",
               str(VAL / "pneumonia"), "--device", "cpu", "--quiet", "--bootstrap", "-1"])
    assert rc == 2 and "--bootstrap must be 0 or more" in capsys.readouterr().err


def test_compare_auc_bench_pairs_two_reports(evaluated, tmp_path):
    import subprocess
    import sys

    base = tmp_path / "base.json"
    base.write_text(json.dumps(evaluated))
    flipped = dict(evaluated)  # a "candidate" that scores every abnormal image as normal
    flipped["images"] = [{**im, "raw_logit": im["raw_logit"] + (20.0 if im["label"] else 0.0)}
                         for im in evaluated["images"]]
    cand = tmp_path / "cand.json"
    cand.write_text(json.dumps(flipped))
    script = ROOT / "bench" / "compare_auc.py"
    proc = subprocess.run([sys.executable, str(script), str(base), str(base), "--bootstrap",
                           "200"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "8 normal, 8 abnormal images in both reports" in proc.stdout
    assert "paired) 0.000 [0.000, 0.000]" in proc.stdout
    proc = subprocess.run([sys.executable, str(script), str(base), str(cand), "--bootstrap",
                           "200"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "candidate AUC 0.000" in proc.stdout
    proc = subprocess.run([sys.executable, str(script), str(base), str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "cannot read the reports" in proc.stderr
