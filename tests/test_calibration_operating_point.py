"""Operating-point rules and score calibration helpers."""

from __future__ import annotations

import numpy as np
import pytest

from squid_core.metrics import metrics_at_threshold
from squid_core.scoring.calibration import (
    logit_calibration,
    residual_statistics,
    scores_from_logits,
)
from squid_core.scoring.operating_point import (
    default_operating_points,
    threshold_for_sensitivity,
    threshold_for_specificity,
)


def test_balanced_is_lowest_threshold_with_specificity_090():
    normals = np.arange(10, dtype=float)  # 0..9
    abnormals = np.array([8.5, 9.5, 20.0])
    s = np.concatenate([normals, abnormals])
    y = np.r_[np.zeros(10), np.ones(3)].astype(int)
    t = threshold_for_specificity(s, y, 0.90)
    # 9 of 10 normals must stay below t: t in (8, 9]; the mid-point rule puts it at 8.25
    # (between 8 and 8.5), flagging 8.5, 9, 9.5 and 20.
    assert t == pytest.approx(8.25)
    m = metrics_at_threshold(s, y, t)
    assert m.specificity == pytest.approx(0.9)
    assert m.sensitivity == pytest.approx(1.0)
    # Any lower candidate breaks the rule.
    assert metrics_at_threshold(s, y, 7.9).specificity < 0.9


def test_high_sensitivity_is_highest_threshold_with_sensitivity_095():
    abnormals = np.linspace(50, 69, 20)  # 20 abnormals: 95% = 19 of them
    normals = np.array([10.0, 20.0, 55.2])
    s = np.r_[normals, abnormals]
    y = np.r_[np.zeros(3), np.ones(20)].astype(int)
    t = threshold_for_sensitivity(s, y, 0.95)
    assert metrics_at_threshold(s, y, t).sensitivity >= 0.95
    assert metrics_at_threshold(s, y, t + 1.0).sensitivity < 0.95
    assert 50.0 < t <= 51.0


def test_default_points_record_rules_and_rates():
    rng = np.random.default_rng(0)
    s = np.r_[rng.normal(30, 10, 100), rng.normal(60, 10, 100)]
    y = np.r_[np.zeros(100), np.ones(100)].astype(int)
    points, default = default_operating_points(s, y)
    assert default == "balanced"
    by = {p["name"]: p for p in points}
    assert by["balanced"]["specificity"] >= 0.90
    assert "specificity >= 0.90" in by["balanced"]["rule"]
    assert by["high sensitivity"]["sensitivity"] >= 0.95
    assert by["high sensitivity"]["threshold"] <= by["balanced"]["threshold"]


def test_normals_only_gives_balanced_without_sensitivity():
    points, _ = default_operating_points(np.arange(20.0), np.zeros(20, int))
    assert [p["name"] for p in points] == ["balanced"]
    assert points[0]["sensitivity"] is None


def test_scores_from_logits():
    assert scores_from_logits(np.array([2.0]), 2.0, 1.0)[0] == pytest.approx(50.0)
    hi, lo = scores_from_logits(np.array([-5.0, 5.0]), 0.0, 1.0)
    assert hi > 99 and lo < 1  # low logit (looks fake) = anomalous


def test_logit_calibration_and_residual_statistics():
    cal = logit_calibration(np.array([1.0, 2.0, 3.0]))
    assert cal == {"mu": 2.0, "sigma": pytest.approx(1.0), "n_images": 3}
    r = np.random.default_rng(0).random((50, 4, 6)).astype(np.float32)
    mean, std, scale_max = residual_statistics(r)
    assert tuple(mean.shape) == (4, 6) and tuple(std.shape) == (4, 6)
    np.testing.assert_allclose(mean.numpy(), r.mean(0), rtol=1e-5)
    assert scale_max >= 3.0


def test_an_operating_point_is_a_value_that_derives_flags_and_results_are_read_at_another():
    """The scorer does not hold mutable flagging state: a point is a frozen value, a
    result carries the point it is read at, and ``at`` re-reads it without re-scoring."""
    import dataclasses

    import pytest

    from squid_core.scoring.operating_point import (
        OperatingPoint,
        default_operating_point_of,
        operating_points_of,
        point_named,
    )
    from squid_core.scoring.result import AnalysisResult

    meta = {"operating_points": [
        {"name": "balanced", "threshold": 77.2, "rule": "r", "sensitivity": 0.77, "specificity": 0.9},
        {"name": "high sensitivity", "threshold": 46.8, "rule": "s"}],
        "default_operating_point": "balanced"}
    points = operating_points_of(meta)
    balanced, sensitive = points
    assert default_operating_point_of(meta) == balanced
    assert default_operating_point_of({"operating_points": meta["operating_points"]}) is None
    assert point_named(points, "high sensitivity") == sensitive
    with pytest.raises(KeyError, match="balanced, high sensitivity"):
        point_named(points, "nope")
    with pytest.raises(dataclasses.FrozenInstanceError):
        balanced.threshold = 0.0  # type: ignore[misc]
    assert OperatingPoint.from_dict(balanced.to_dict()) == balanced
    assert (balanced.flag(77.2), balanced.flag(60.0), balanced.flag(None)) == (True, False, None)

    r = AnalysisResult(score=60.0, raw_logit=-5.0, operating_point=balanced,
                       reconstruction=None, heatmap=None, heatmap_units="", heatmap_scale_max=0.0,
                       model_name="m", model_version="1", device="cpu")
    assert r.flagged is False
    at_sensitive = r.at(sensitive)
    assert at_sensitive.flagged is True and at_sensitive.operating_point is sensitive
    assert r.flagged is False and r.at(balanced) is r  # the original is untouched
    assert r.at(None).flagged is None
