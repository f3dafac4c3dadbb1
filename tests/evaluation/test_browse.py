"""Browsing an evaluation: cells, error order, chart clicks, stored heatmaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facefake_core.evaluation import (
    Evaluation, Row, by_loss, decisions, errors_by_loss, find_row, rows_in_cell, stored_heatmap,
)

VOCAB = ("fake", "real")


def _row(name: str, label: str, p_fake: float) -> Row:
    return Row(f"/set/{label}/{name}.jpg", label, image_sha=name * 8, probs={"fake": p_fake, "real": 1 - p_fake})


@pytest.fixture
def ev() -> Evaluation:
    rows = (_row("a", "fake", 0.9), _row("b", "fake", 0.3), _row("c", "fake", 0.45),
            _row("d", "real", 0.8), _row("e", "real", 0.1))
    return Evaluation("m" * 64, VOCAB, "/set", rows, (), computed=5, reused=0)


def names(rows) -> list[str]:
    return [r.image_sha[0] for r in rows]


def test_decisions_follow_the_threshold(ev):
    assert decisions(ev, 0.5) == ["fake", "real", "real", "fake", "real"]
    assert decisions(ev, 0.4) == ["fake", "real", "fake", "fake", "real"]


def test_cells_hold_their_rows_most_wrong_first(ev):
    # At 0.5: b (loss -ln .3 = 1.20) and c (-ln .45 = 0.80) are fakes called real.
    assert names(rows_in_cell(ev, 0.5, "fake", "real")) == ["b", "c"]
    assert names(rows_in_cell(ev, 0.5, "real", "fake")) == ["d"]
    assert names(rows_in_cell(ev, 0.5, "fake", "fake")) == ["a"]
    assert names(rows_in_cell(ev, 0.4, "fake", "fake")) == ["c", "a"]  # -ln .45 > -ln .9
    total = sum(len(rows_in_cell(ev, 0.5, t, p)) for t in VOCAB for p in VOCAB)
    assert total == len(ev.rows)
    with pytest.raises(ValueError, match="unknown class"):
        rows_in_cell(ev, 0.5, "fake", "cat")


def test_errors_sorted_by_loss(ev):
    # d: -ln .2 = 1.61, b: 1.20, c: 0.80
    assert names(errors_by_loss(ev, 0.5)) == ["d", "b", "c"]
    assert names(errors_by_loss(ev, 0.4)) == ["d", "b"]
    assert math.isclose(errors_by_loss(ev, 0.5)[0].loss, -math.log(0.2), rel_tol=1e-9)


def test_by_loss_ties_are_ordered_by_path():
    even = {"fake": 0.5, "real": 0.5}
    rows = [Row("/z.jpg", "fake", probs=even), Row("/a.jpg", "fake", probs=even)]
    assert [r.path for r in by_loss(rows)] == ["/a.jpg", "/z.jpg"]


def test_find_row(ev):
    assert find_row(ev, "d" * 8).path == "/set/real/d.jpg"
    assert find_row(ev, "nope") is None


def test_stored_heatmap_matches_a_fresh_explanation(learner_pkl, tmp_path):
    from conftest import make_image_folder
    from facefake_core import load_model
    from facefake_core.evaluation import evaluate
    from facefake_core.evaluation import Store

    model = load_model(str(learner_pkl), trust=True, device="cpu")
    ev = evaluate(model, make_image_folder(tmp_path / "set", n=1, size=(170, 130)), store=Store(tmp_path / "s.sqlite"),
                  with_focus=False)
    row = ev.rows[0]
    fresh = model.explain(row.path)
    got = stored_heatmap(row, model.prep, fresh.photo.shape[:2])
    assert got.shape == fresh.photo.shape[:2] and got.dtype == np.float32
    np.testing.assert_allclose(got, fresh.heatmap, atol=2e-3)
    with pytest.raises(ValueError, match="no CAM"):
        stored_heatmap(Row(row.path, row.label, probs=row.probs), model.prep, (130, 170))
