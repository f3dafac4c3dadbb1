"""Cascading randomisation: near 1 for an unchanged copy, lower once weights are random, the loaded model
untouched."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from conftest import draw_photo
from facefake_core.analysis import randomisation as sanity_mod
from facefake_core.imaging import load_photo


def _state(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def test_an_unchanged_copy_gives_the_same_map(model, monkeypatch):
    monkeypatch.setattr(sanity_mod, "_reinitialise", lambda module, seed: None)
    out = sanity_mod.sanity(model, load_photo(draw_photo(21, 160, 120)))  # the predicted class: a non-empty map
    assert [s["randomized"] for s in out["sanity"]] == ["head", "layer4", "layer3", "layer2", "layer1"]
    assert all(s["spearman"] > 0.999 and s["ssim"] > 0.999 for s in out["sanity"])
    assert out["verdict"].startswith("This map does not depend on the model's weights")


def test_randomised_weights_change_the_map_and_leave_the_model_alone(model):
    before = _state(model)
    out = sanity_mod.sanity(model, load_photo(draw_photo(21, 160, 120)))
    after = model.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    rhos = [s["spearman"] for s in out["sanity"] if s["spearman"] is not None]
    assert rhos and min(rhos) < 0.9
    assert all(-1 <= r <= 1 for r in rhos) and all(-1 <= s["ssim"] <= 1 for s in out["sanity"])


def test_an_empty_map_is_said_so(model, monkeypatch):
    real = sanity_mod.predict_and_cam

    def empty(split, x, method="gradcam", targets=None):
        res = real(split, x, method, targets)
        return dataclasses.replace(res, raw_cam=np.zeros_like(res.raw_cam))

    monkeypatch.setattr(sanity_mod, "predict_and_cam", empty)
    out = sanity_mod.sanity(model, load_photo(draw_photo(21, 160, 120)))
    assert out["verdict"].startswith("The map of") and all(s["spearman"] is None for s in out["sanity"])
