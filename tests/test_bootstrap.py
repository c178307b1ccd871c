"""Stratified bootstrap intervals (squid_core.bootstrap) and the operating point's margin."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from squid_core.bootstrap import bootstrap_auc, bootstrap_rates, resample_counts
from squid_core.metrics import metrics_at_threshold
from squid_core.scoring.operating_point import (
    balanced_threshold,
    default_operating_points,
    threshold_for_specificity,
    threshold_for_specificity_bound,
)


def _data(n0=100, n1=100, seed=0):
    rng = np.random.default_rng(seed)
    s = np.r_[rng.normal(30, 10, n0), rng.normal(45, 10, n1)].round(1)  # ties on purpose
    return s, np.r_[np.zeros(n0, int), np.ones(n1, int)]


def test_auc_estimate_is_sklearns_and_lies_in_its_interval():
    s, y = _data()
    ci = bootstrap_auc(s, y, n_boot=500, seed=1)
    assert ci.estimate == pytest.approx(roc_auc_score(y, s))
    assert ci.low < ci.estimate < ci.high
    assert 0.05 < ci.high - ci.low < 0.2  # about +-0.05 on 100 + 100 images


def test_intervals_are_seeded_and_narrow_with_more_data():
    s, y = _data()
    assert bootstrap_auc(s, y, n_boot=300, seed=4) == bootstrap_auc(s, y, n_boot=300, seed=4)
    assert bootstrap_auc(s, y, n_boot=300, seed=4) != bootstrap_auc(s, y, n_boot=300, seed=5)
    big_s, big_y = _data(1000, 1000)
    small, big = bootstrap_auc(s, y, n_boot=300), bootstrap_auc(big_s, big_y, n_boot=300)
    assert big.high - big.low < 0.6 * (small.high - small.low)


def test_resamples_are_stratified_and_match_a_direct_resampling():
    counts = resample_counts(7, 50, np.random.default_rng(0))
    assert counts.shape == (50, 7) and np.all(counts.sum(axis=1) == 7)
    # the weighted AUC of one resample equals sklearn's AUC on that resample's images
    s, y = _data(30, 20)
    neg, pos = s[y == 0], s[y == 1]
    rng = np.random.default_rng(3)
    wp, wn = resample_counts(pos.size, 1, rng)[0], resample_counts(neg.size, 1, rng)[0]
    rs = np.r_[np.repeat(neg, wn), np.repeat(pos, wp)]
    ry = np.r_[np.zeros(wn.sum()), np.ones(wp.sum())]
    wins = (np.sign(pos[:, None] - neg[None, :]) + 1) / 2
    assert wp @ wins @ wn / (pos.size * neg.size) == pytest.approx(roc_auc_score(ry, rs))


def test_rates_and_a_missing_class():
    s, y = _data()
    r = bootstrap_rates(s, y, 40.0, n_boot=400)
    m = metrics_at_threshold(s, y, 40.0)
    assert r["sensitivity"].estimate == pytest.approx(m.sensitivity)
    assert r["specificity"].estimate == pytest.approx(m.specificity)
    for ci in r.values():
        assert ci.low <= ci.estimate <= ci.high
    only_normals = bootstrap_rates(s[y == 0], y[y == 0], 40.0, n_boot=10)
    assert np.isnan(only_normals["sensitivity"].estimate)
    assert np.isnan(bootstrap_auc(s[y == 0], y[y == 0], n_boot=10).estimate)
    separated = bootstrap_auc([1, 2, 3, 10, 11], [0, 0, 0, 1, 1], n_boot=100)
    assert (separated.estimate, separated.low, separated.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_auc(s, y, n_boot=0)


def test_the_margin_raises_the_balanced_threshold_until_the_lower_bound_holds():
    s, y = _data()
    point = threshold_for_specificity(s, y, 0.90)
    bound = threshold_for_specificity_bound(s, y, 0.90, n_boot=1000)
    assert bound > point
    spec = bootstrap_rates(s, y, bound, n_boot=1000)["specificity"]
    assert spec.low >= 0.90 - 1e-9
    assert spec.estimate > 0.93  # ~0.95 needed on 100 normals
    # one candidate lower and the lower bound falls short of the target
    below = np.unique(s)[np.unique(s) < bound].max()
    assert bootstrap_rates(s, y, below, n_boot=1000)["specificity"].low < 0.90
    # the default points use the margin and say so
    points, _ = default_operating_points(s, y)
    bal = next(p for p in points if p["name"] == "balanced")
    assert bal["threshold"] == pytest.approx(bound)
    assert "specificity >= 0.90 at the lower end of its 95 % bootstrap interval" in bal["rule"]
    assert balanced_threshold(s, y, 0.9, "none")[0] == pytest.approx(point)


def test_few_normals_fall_back_to_flagging_no_validation_normal():
    s = np.array([1.0, 2.0, 3.0, 9.0])
    y = np.array([0, 0, 0, 1])
    t = threshold_for_specificity_bound(s, y, 0.90, n_boot=200)
    assert metrics_at_threshold(s, y, t).specificity == 1.0
    assert t > 3.0


def test_paired_auc_difference():
    from squid_core.bootstrap import bootstrap_auc_difference

    s, y = _data()
    same = bootstrap_auc_difference(s, s, y, n_boot=200)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    better = s + 8.0 * y  # the candidate separates the classes more
    d = bootstrap_auc_difference(s, better, y, n_boot=500, seed=2)
    assert d.estimate == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, s))
    assert 0.0 < d.low < d.estimate < d.high
    # pairing: the interval of the difference is narrower than either AUC's own interval
    assert d.high - d.low < bootstrap_auc(s, y, n_boot=500).high - bootstrap_auc(s, y, n_boot=500).low


def test_bound_matches_a_brute_force_over_every_candidate():
    """The fast rule (cumulative counts per distinct normal score) picks what evaluating
    the lower bound at every candidate threshold picks."""
    from squid_core.bootstrap import resample_counts
    from squid_core.scoring.operating_point import candidate_thresholds

    for seed in range(6):
        rng = np.random.default_rng(seed)
        n0, n1 = int(rng.integers(3, 120)), int(rng.integers(0, 60))
        s = np.r_[rng.normal(0, 1, n0), rng.normal(1, 1, n1)].round(int(rng.integers(0, 3)))
        y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        target = float(rng.uniform(0.5, 0.95))
        cands = candidate_thresholds(s)
        normals = s[y == 0]
        counts = resample_counts(n0, 300, np.random.default_rng(0)).astype(float)
        spec = counts @ (normals[:, None] < cands[None, :]) / n0
        lower = np.percentile(spec, 2.5, axis=0)
        ok = np.flatnonzero(lower >= target - 1e-12)
        expected = cands[ok[0]] if ok.size else cands[-1]
        assert threshold_for_specificity_bound(s, y, target, n_boot=300) == expected
