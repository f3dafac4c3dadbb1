"""Metrics against values worked out by hand."""

import numpy as np
import pytest

from facefake_core.evaluation import compute, equal_error_rate

VOCAB = ["fake", "real"]
# Four fakes and four reals; P(fake) per image.
LABELS = ["fake"] * 4 + ["real"] * 4
P_FAKE = [0.9, 0.8, 0.4, 0.3, 0.6, 0.2, 0.1, 0.05]


def test_confusion_and_per_class_accuracy_at_half():
    m = compute(LABELS, P_FAKE, VOCAB, 0.5)
    # fakes: 0.9, 0.8 caught; 0.4, 0.3 missed. reals: 0.6 called fake; the other three right.
    assert m.confusion.tolist() == [[2, 2], [1, 3]]
    assert m.per_class_accuracy == {"fake": 0.5, "real": 0.75}
    assert m.accuracy == 5 / 8
    assert m.seed_table() == {"Real Accuracy": 0.75, "Fake Accuracy": 0.5}


def test_threshold_moves_the_decisions():
    m = compute(LABELS, P_FAKE, VOCAB, 0.25)
    assert m.confusion.tolist() == [[4, 0], [1, 3]]


def test_auc_by_pair_counting():
    # AUC = share of (fake, real) pairs ranked correctly: fakes 0.9, 0.8 beat all 4 reals (8 pairs);
    # 0.4 and 0.3 beat 0.2, 0.1, 0.05 (3 each) but not 0.6 -> 8 + 6 = 14 of 16.
    assert compute(LABELS, P_FAKE, VOCAB).auc == pytest.approx(14 / 16)


def test_average_precision_by_hand():
    # Ranked: 0.9 F, 0.8 F, 0.6 R, 0.4 F, 0.3 F ... precision at each fake: 1, 1, 3/4, 4/5.
    assert compute(LABELS, P_FAKE, VOCAB).ap == pytest.approx((1 + 1 + 3 / 4 + 4 / 5) / 4)


def test_eer_of_separable_and_symmetric_cases():
    assert equal_error_rate(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(0.0)
    # One fake below one real, two of each: at the crossing both error rates are 1/2.
    assert equal_error_rate(np.array([1, 1, 0, 0]), np.array([0.9, 0.3, 0.6, 0.1])) == pytest.approx(0.5)


def test_single_class_set_has_no_auc():
    m = compute(["fake", "fake"], [0.7, 0.2], VOCAB)
    assert m.auc is None and m.per_class_accuracy == {"fake": 0.5, "real": None}


def test_confusion_matches_scikit_learn_on_a_large_random_set():
    """The numpy confusion count is scikit-learn's confusion_matrix, labels outside the vocab left out."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(3)
    labels = rng.choice(["fake", "real", "other"], 20_000, p=[0.5, 0.45, 0.05]).tolist()
    p = rng.random(20_000)
    m = compute(labels, p, ["fake", "real"], 0.37)
    preds = ["fake" if q >= 0.37 else "real" for q in p]
    expected = confusion_matrix(labels, preds, labels=["fake", "real"])
    assert m.confusion.dtype == expected.dtype and m.confusion.tolist() == expected.tolist()
    assert compute([], [], ["fake", "real"]).confusion.tolist() == [[0, 0], [0, 0]]
