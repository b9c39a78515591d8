"""Threshold calibration maths: ROC figures of labelled pair scores against naive re-computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from face_identity.calibrate import calibrate_scores
from face_identity.errors import InvalidArgumentError


def naive_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Probability that a random same pair outscores a random different pair (ties count half)."""
    wins = [1.0 if s > d else 0.5 if s == d else 0.0 for s, d in itertools.product(scores[same], scores[~same])]
    return float(np.mean(wins))


def naive_best_accuracy(scores: np.ndarray, same: np.ndarray) -> float:
    thresholds = np.concatenate([scores, [scores.max() + 1]])
    return max(float(np.mean((scores >= t) == same)) for t in thresholds)


def test_separable_scores_calibrate_perfectly() -> None:
    rng = np.random.default_rng(20)
    same_scores = rng.uniform(0.5, 0.9, 30)
    different_scores = rng.uniform(-0.1, 0.3, 70)
    scores = np.concatenate([same_scores, different_scores])
    labels = np.concatenate([np.ones(30, bool), np.zeros(70, bool)])
    order = rng.permutation(100)

    report = calibrate_scores(scores[order], labels[order], default_threshold=0.4)

    assert report.best_accuracy == 1.0 and report.auc == pytest.approx(1.0)
    assert report.eer == pytest.approx(0.0)
    assert different_scores.max() < report.best_threshold <= same_scores.min()
    assert report.accuracy_at_default == 1.0 and report.cross_validated_accuracy == 1.0
    assert report.tpr_at_fpr[0.001] == 1.0
    assert (report.pair_count, report.same_count, report.different_count) == (100, 30, 70)
    assert report.mean_same == pytest.approx(same_scores.mean()) and report.mean_different == pytest.approx(
        different_scores.mean()
    )
    assert "accuracy 1.0000" in report.summary()


def test_overlapping_scores_give_sensible_figures() -> None:
    rng = np.random.default_rng(21)
    same_scores = np.round(rng.normal(0.5, 0.15, 200), 3)  # rounding makes ties
    different_scores = np.round(rng.normal(0.3, 0.15, 300), 3)
    scores = np.concatenate([same_scores, different_scores])
    labels = np.concatenate([np.ones(200, bool), np.zeros(300, bool)])
    order = rng.permutation(500)
    scores, labels = scores[order], labels[order]

    report = calibrate_scores(scores, labels)

    assert 0.5 < report.auc < 1.0
    assert report.auc == pytest.approx(naive_auc(scores, labels), abs=1e-9)
    assert report.best_accuracy == pytest.approx(naive_best_accuracy(scores, labels))
    assert report.best_accuracy == pytest.approx(np.mean((scores >= report.best_threshold) == labels))
    assert report.cross_validated_accuracy <= report.best_accuracy + 1e-9
    assert report.cross_validated_accuracy > 0.6
    # equal error rate: at some threshold the miss rate and the false-accept rate meet near it
    assert 0.0 < report.eer < 0.5
    rates = [(np.mean(scores[~labels] >= t), np.mean(scores[labels] < t)) for t in np.unique(scores)]
    closest = min(rates, key=lambda pair: abs(pair[0] - pair[1]))
    assert report.eer == pytest.approx(sum(closest) / 2, abs=0.02)
    for fpr, tpr in report.tpr_at_fpr.items():
        feasible = [np.mean(scores[labels] >= t) for t in np.unique(scores) if np.mean(scores[~labels] >= t) <= fpr]
        assert tpr == pytest.approx(max(feasible, default=0.0))


def test_calibration_refuses_one_class_or_mismatched_lengths() -> None:
    with pytest.raises(InvalidArgumentError):
        calibrate_scores([0.5, 0.6], [True, True])
    with pytest.raises(InvalidArgumentError):
        calibrate_scores([0.5, 0.6], [False, False])
    with pytest.raises(InvalidArgumentError):
        calibrate_scores([0.5, 0.6, 0.1], [True, False])
