"""squid_core.metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from squid_core.metrics import auc, metrics_at_threshold, roc_points

SCORES = [0.1, 0.4, 0.35, 0.8, 0.7, 0.2]
LABELS = [0, 0, 1, 1, 1, 0]


def test_auc_by_hand():
    # positives 0.35, 0.8, 0.7 vs negatives 0.1, 0.4, 0.2: 8 of 9 pairs ranked right.
    assert auc(SCORES, LABELS) == pytest.approx(8 / 9)


def test_auc_ties_count_half():
    assert auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)


def test_auc_single_class_is_nan():
    assert math.isnan(auc([0.1, 0.2], [0, 0]))


def test_metrics_at_threshold_by_hand():
    m = metrics_at_threshold(SCORES, LABELS, 0.35)  # flagged: 0.4, 0.35, 0.8, 0.7
    assert (m.tp, m.fp, m.tn, m.fn) == (3, 1, 2, 0)
    assert m.sensitivity == pytest.approx(1.0)
    assert m.specificity == pytest.approx(2 / 3)
    assert m.accuracy == pytest.approx(5 / 6)
    assert m.f1 == pytest.approx(6 / 7)


def test_threshold_is_inclusive_and_rates_nan_without_class():
    m = metrics_at_threshold([1.0, 2.0], [0, 0], 2.0)
    assert (m.fp, m.tn) == (1, 1)
    assert math.isnan(m.sensitivity)


def test_roc_points_are_finite_and_monotone():
    r = roc_points(SCORES, LABELS)
    assert r["fpr"][0] == 0.0 and r["tpr"][-1] == 1.0
    assert all(math.isfinite(t) for t in r["thresholds"])
    assert r["fpr"] == sorted(r["fpr"]) and r["tpr"] == sorted(r["tpr"])


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        auc([0.1, 0.2], [0])
