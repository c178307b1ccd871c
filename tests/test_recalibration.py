"""Re-calibration on n site normals (squid_core.scoring.recalibration, bench/recalibration.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from squid_core.scoring.calibration import scores_from_logits
from squid_core.scoring.recalibration import recalibrated_threshold, recalibration_draws

ROOT = Path(__file__).resolve().parent.parent
VAL = ROOT / "tests" / "data" / "zhanglab_val"
MODEL = ROOT / "resources" / "models" / "default.safetensors"


def test_recalibrated_threshold_is_what_squid_calibrate_stores():
    logits = np.random.default_rng(1).normal(-6.0, 1.7, 300)
    mu, sigma, t = recalibrated_threshold(logits, 0.90, margin="none")
    assert mu == pytest.approx(logits.mean()) and sigma == pytest.approx(logits.std(ddof=1))
    assert np.mean(scores_from_logits(logits, mu, sigma) < t) == pytest.approx(0.90)
    _, _, t_margin = recalibrated_threshold(logits, 0.90)
    assert t_margin > t


def test_more_normals_give_a_steadier_specificity_and_the_margin_holds_the_target():
    pool = np.random.default_rng(0).normal(-6.0, 1.7, 1000)
    _, small = recalibration_draws(pool, 25, 60, margin="none", seed=2)
    _, large = recalibration_draws(pool, 300, 60, margin="none", seed=2)
    assert large.sd < 0.6 * small.sd
    assert abs(large.mean - 0.90) < 0.02
    achieved, kept = recalibration_draws(pool, 100, 60, seed=2)
    assert achieved.shape == (60,) and kept.mean > 0.92 and kept.p05 >= 0.88
    assert kept.share_below <= small.share_below
    with pytest.raises(ValueError, match="need 2 <= n"):
        recalibration_draws(pool[:10], 10, 5)


def test_bench_runs_on_real_images():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "recalibration.py"), str(MODEL), "--normal",
         str(VAL / "normal"), str(VAL / "pneumonia"), "--sizes", "4", "8", "--draws", "5",
         "--site", "gamma=0.9"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pool: 16 normals transformed by gamma 0.9 (brighter)" in proc.stdout
    assert "before re-calibration: specificity" in proc.stdout
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| bootstrap |")
            or ln.startswith("| none |")]
    assert len(rows) == 4
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "recalibration.py"), str(MODEL), "--normal",
         str(VAL / "normal"), "--sizes", "40"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "sizes must stay below" in proc.stderr
