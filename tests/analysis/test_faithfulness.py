"""Faithfulness scores equal pytorch-grad-cam's ROADCombined called directly on the same tensor and CAM (same
seed), the curves behind them add up, and the fill perturbation uses the other photo's pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from conftest import draw_photo
from facefake_core.analysis.faithfulness import FillImputer, SolveOnce, faithfulness, input_cam
from facefake_core.imaging import load_photo
from facefake_core.model import predict_and_cam


def test_road_equals_pytorch_grad_cam_called_directly(model):
    photo = load_photo(draw_photo(11, 200, 150))
    out = faithfulness(model, photo, target="fake", seed=3)
    f = out["faithfulness"]
    assert out["target"] == "fake" and f["percentiles"] == [20, 40, 60, 80]
    x = model.prepare([photo])
    res = predict_and_cam(model.split(), x, "gradcam", 0)
    cam = input_cam(res.raw_cam[0], (x.shape[-1], x.shape[-2]))
    torch.manual_seed(3)
    direct = ROADCombined(percentiles=[20, 40, 60, 80])(x, cam[None], [ClassifierOutputTarget(0)], model.net)
    assert f["road_combined"] == pytest.approx(float(direct[0]), abs=1e-4)
    assert f["road_combined"] == pytest.approx((np.mean(f["lerf"]) - np.mean(f["morf"])) / 2, abs=1e-6)
    assert set(f["baselines"]) == {"random", "sobel"} and all(np.isfinite(list(f["baselines"].values())))
    assert out["fill"] is None


def test_fill_puts_the_other_photos_pixels_where_the_mask_removes():
    img, other = torch.zeros(3, 4, 4), torch.ones(3, 4, 4)
    mask = torch.zeros(4, 4)
    mask[:2] = 1  # keep the top half
    out = FillImputer(other)(img, mask)
    assert torch.equal(out[:, :2], img[:, :2]) and torch.equal(out[:, 2:], other[:, 2:])


def test_fill_perturbation_is_scored_when_a_photo_is_given(model):
    out = faithfulness(model, load_photo(draw_photo(12, 160, 120)), fill=load_photo(draw_photo(13, 160, 120)))
    assert set(out["fill"]) == set(out["faithfulness"]) and len(out["fill"]["morf"]) == 4
    assert out["fill"]["road_combined"] != out["faithfulness"]["road_combined"]


def test_solving_each_mask_once_equals_the_imputer_called_every_time():
    img = torch.randn(3, 24, 20, generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(0, 1, 24 * 20).reshape(24, 20)
    masks = [(ramp < 0.7).float(), torch.zeros(24, 20), (ramp < 0.3).float(), torch.zeros(24, 20),
             (ramp < 0.7).float()]  # repeated masks, as tied or all-zero maps give
    torch.manual_seed(5)
    direct = [NoisyLinearImputer()(img, m) for m in masks]
    after_direct = torch.rand(1)
    once = SolveOnce(NoisyLinearImputer())
    torch.manual_seed(5)
    ours = [once(img, m) for m in masks]
    assert len(once.solved) == 3 and torch.equal(torch.rand(1), after_direct)  # the generator is in step
    assert all(torch.equal(a, b) for a, b in zip(direct, ours))
    assert not torch.equal(ours[1], ours[3])  # the same solve, its own noise each time
