"""Robustness curves: the none point is the evaluation, edited points equal the model on the edited photo, a second
run does no model work and a new value runs only that value."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_dof_set
from facefake_core import evaluate
from facefake_core.analysis import robustness_curves as rb
from facefake_core.analysis.slices import slice_columns
from facefake_core.evaluation import Store
from facefake_core.imaging import gaussian_blur, jpeg, load_photo


@pytest.fixture(scope="module")
def set_ev(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("rob")
    store = Store(root / "s.sqlite")
    return evaluate(model, make_dof_set(root / "set"), store=store, with_cam=False), store


def test_curves_none_point_and_edited_points(model, set_ev):
    ev, store = set_ev
    out = rb.robustness(model, ev, {"jpeg": (50,), "blur": (2,)}, store=store, batch_size=3,
                        slices=slice_columns(ev))
    none, q50, b2 = out["curves"]
    m = ev.metrics(0.5)
    assert none["edit"] == "none" and "value" not in none
    assert none["auc"] == m.auc and none["per_class_accuracy"] == m.per_class_accuracy and none["n"] == m.n
    assert (q50["edit"], q50["value"], b2["edit"], b2["value"]) == ("jpeg", 50.0, "blur", 2.0)
    # Independently: edit each photo with the library function and ask the model.
    for point, fn in ((q50, lambda px: jpeg(px, 50)), (b2, lambda px: gaussian_blur(px, 2))):
        photos = [load_photo(fn(load_photo(r.path).pixels)) for r in ev.rows]
        p = np.array([pr.probs["fake"] for pr in model.predict_batch(photos)])
        labels = np.array([r.label for r in ev.rows])
        assert point["mean_p_fake"]["fake"] == pytest.approx(p[labels == "fake"].mean(), abs=1e-5)
        assert point["mean_p_fake"]["real"] == pytest.approx(p[labels == "real"].mean(), abs=1e-5)
    assert set(q50["slices"]["narrow_dof"]) == {"narrow", "sharp"}
    assert sum(s["n"] for s in q50["slices"]["narrow_dof"].values()) == q50["n"]


def test_second_run_does_no_model_work_and_a_new_value_runs_alone(model, set_ev, monkeypatch):
    ev, store = set_ev
    rb.robustness(model, ev, {"downscale": (0.5,)}, store=store)
    calls = []
    real = rb.forward_only

    def counting(net, x):
        calls.append(len(x))
        return real(net, x)

    monkeypatch.setattr(rb, "forward_only", counting)
    again = rb.robustness(model, ev, {"downscale": (0.5,)}, store=store)
    assert calls == []
    more = rb.robustness(model, ev, {"downscale": (0.5, 0.25)}, store=store, batch_size=100)
    assert calls == [len(ev.rows)]  # only the new value's images
    assert more["curves"][1] == again["curves"][1]


def test_parse_edit():
    assert rb.parse_edit("jpeg=30,50") == ("jpeg", (30.0, 50.0))
    assert rb.parse_edit("blur") == ("blur", rb.DEFAULT_VALUES["blur"])
    with pytest.raises(ValueError, match="unknown edit"):
        rb.parse_edit("sepia=1")
    with pytest.raises(ValueError, match="numbers"):
        rb.parse_edit("jpeg=high")
