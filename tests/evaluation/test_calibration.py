"""ECE, Brier, the best threshold and the fitted recalibration on hand-made scores, against hand computation and
scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, brier_score_loss

from facefake_core.evaluation import best_threshold, calibration, fit_recalibration


def test_ece_and_brier_by_hand():
    # Bins [0, .1): p .05 (real), .05 (fake); [.9, 1]: p .95 (fake), 1.0 (fake), .9 (real).
    y = np.array([0, 1, 1, 1, 0])
    p = np.array([0.05, 0.05, 0.95, 1.0, 0.9])
    cal = calibration(y, p)
    # bin 0: n 2, mean p .05, frac fake .5 -> |.05 - .5| = .45; bin 9: n 3, mean p .95, frac 2/3 -> .2833...
    expected = 2 / 5 * 0.45 + 3 / 5 * abs(0.95 - 2 / 3)
    assert cal.ece == pytest.approx(expected)
    assert cal.brier == pytest.approx(np.mean((p - y) ** 2)) == pytest.approx(brier_score_loss(y, p))
    assert [b["n"] for b in cal.bins] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert cal.bins[0] == {"lo": 0.0, "hi": 0.1, "n": 2, "mean_p_fake": pytest.approx(0.05), "frac_fake": 0.5}
    assert cal.bins[1]["mean_p_fake"] is None


def test_a_bin_edge_belongs_to_the_upper_bin():
    cal = calibration(np.array([1, 0]), np.array([0.1, 0.3]))
    assert [b["n"] for b in cal.bins][:4] == [0, 1, 0, 1]


def test_best_threshold_maximises_balanced_accuracy():
    # Fakes score .3 .35 .4, reals .1 .2 .32: at 0.5 every fake is missed; at .33 one real is called fake... the
    # best cut is 0.3 (fakes 3/3, reals 2/3) or .35 (fakes 2/3, reals 3/3), both .8333; the one nearer .5 wins.
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.3, 0.35, 0.4, 0.1, 0.2, 0.32])
    best = best_threshold(y, p, "fake", "real", near=0.5)
    assert best.threshold == pytest.approx(0.35)
    pred = (p >= best.threshold).astype(int)
    assert best.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, pred))
    assert best.per_class_accuracy == {"fake": pytest.approx(2 / 3), "real": 1.0}
    # Brute force over every cut: nothing does better.
    cuts = np.unique(np.r_[p, 1.0])
    assert max(balanced_accuracy_score(y, (p >= t).astype(int)) for t in cuts) == pytest.approx(best.balanced_accuracy)


def test_best_threshold_needs_both_classes():
    assert best_threshold(np.array([1, 1]), np.array([0.2, 0.7]), "fake", "real").threshold is None


def test_recalibration_bias_matches_an_intercept_only_fit():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(z + 1.5)))).astype(int)  # the true bias is +1.5 on the logit
    p = 1 / (1 + np.exp(-z))
    fit = fit_recalibration(y, p, "bias", fitted_on="this set")
    # scikit-learn's logistic regression on the logit with its coefficient fixed at 1 is an offset model; fit it
    # as a free slope and check that the bias-only fit lands near its intercept when the slope is ~1.
    ref = LogisticRegression(C=1e6).fit(z[:, None], y)
    assert fit.bias == pytest.approx(ref.intercept_[0] / ref.coef_[0, 0], abs=0.4)
    assert fit.temperature == 1.0 and fit.fitted_on == "this set"
    assert fit.apply(np.array([0.5]))[0] == pytest.approx(1 / (1 + np.exp(-fit.bias)))
    temp = fit_recalibration(y, p, "temperature")
    assert temp.bias == 0.0 and temp.temperature > 0
    with pytest.raises(ValueError):
        fit_recalibration(y, p, "isotonic")
