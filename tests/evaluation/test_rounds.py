"""Rounds on one hard set: the seed's table and the images the rounds disagree on."""

from __future__ import annotations

import pytest

from facefake_core.evaluation import Evaluation, Row, disagreements, seed_table

VOCAB = ("fake", "real")


def _ev(name: str, p_fake: dict[str, float], labels: dict[str, str]) -> Evaluation:
    rows = tuple(Row(f"/{name}/{sha}.jpg", labels[sha], image_sha=sha, probs={"fake": p, "real": 1 - p})
                 for sha, p in p_fake.items())
    return Evaluation(name * 64, VOCAB, f"/{name}", rows, (), len(rows), 0)


LABELS = {"f1": "fake", "f2": "fake", "r1": "real", "r2": "real", "only": "real"}


@pytest.fixture
def named():
    r0 = _ev("a", {"f1": 0.9, "f2": 0.3, "r1": 0.2, "r2": 0.6}, LABELS)
    r1 = _ev("b", {"f1": 0.8, "f2": 0.7, "r1": 0.1, "r2": 0.4, "only": 0.9}, LABELS)
    return [("round0", r0), ("round1", r1)]


def test_seed_table_by_hand(named):
    table = seed_table(named, 0.5)
    # round0: fakes .9 (right) .3 (wrong) -> 50%; reals .2 (right) .6 (wrong) -> 50%.
    # AUC by pair counting: fakes {.9, .3} vs reals {.2, .6}: .9>.2, .9>.6, .3>.2, .3<.6 -> 3/4.
    assert table[0] == {"Round": "round0", "Real Accuracy": 0.5, "Fake Accuracy": 0.5, "AUC": 0.75}
    # round1: fakes .8 .7 both right; reals .1 .4 .9 -> 2 of 3 right; every fake above every real but .9 ->
    # pairs: .8 and .7 beat .1 and .4 but lose to .9 -> 4/6.
    assert table[1]["Fake Accuracy"] == 1.0
    assert table[1]["Real Accuracy"] == pytest.approx(2 / 3)
    assert table[1]["AUC"] == pytest.approx(4 / 6)
    assert list(seed_table(named, 0.5, with_auc=False)[0]) == ["Round", "Real Accuracy", "Fake Accuracy"]


def test_disagreements_are_images_decided_differently(named):
    found = disagreements(named, 0.5)
    # f2: .3 (real) vs .7 (fake), spread .4; r2: .6 (fake) vs .4 (real), spread .2; "only" is in one round.
    assert [d.image_sha for d in found] == ["f2", "r2"]
    assert found[0].preds == {"round0": "real", "round1": "fake"}
    assert found[0].p_pos == pytest.approx({"round0": 0.3, "round1": 0.7})
    assert found[0].spread == pytest.approx(0.4)
    assert found[0].rows["round1"].path == "/b/f2.jpg" and found[0].path == "/a/f2.jpg"
    # At .35, r2 is fake for both (.6, .4) while f2 still splits (.3 real, .7 fake).
    assert [d.image_sha for d in disagreements(named, 0.35)] == ["f2"]


def test_disagreements_need_two_distinct_rounds(named):
    with pytest.raises(ValueError, match="at least two"):
        disagreements(named[:1], 0.5)
    with pytest.raises(ValueError, match="must differ"):
        disagreements([named[0], ("round0", named[1][1])], 0.5)
