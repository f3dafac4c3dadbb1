"""Faithfulness scores equal pytorch-grad-cam's ROADCombined called directly on the same tensor and CAM (same
seed), the curves behind them add up, and the fill perturbation uses the other photo's pixels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined, neighbors_weights
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from scipy.sparse.linalg import spsolve

from conftest import draw_photo
from facefake_core.analysis.faithfulness import (
    FillImputer, SolveOnce, faithfulness, input_cam, road_impute, road_solve, road_system,
)
from facefake_core.imaging import load_photo
from facefake_core.model import predict_and_cam


def test_road_equals_pytorch_grad_cam_called_directly(model):
    photo = load_photo(draw_photo(11, 200, 150))
    threads = torch.get_num_threads()
    out = faithfulness(model, photo, target="fake", seed=3)  # on the CPU: in the lanes, see road_scores
    assert torch.get_num_threads() == threads  # the caller's thread count is back
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
    # the same noise; the solutions to float rounding (another factorisation of the same system)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(direct, ours))
    assert not torch.equal(ours[1], ours[3])  # the same solve, its own noise each time


def _masks(h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    ramp = np.add.outer(np.arange(h), np.arange(w)) / (h + w)
    blob = np.ones((h, w), np.float32)
    blob[h // 4: 3 * h // 4, w // 3: w - 1] = 0  # a hole touching nothing but known pixels and the right edge
    return [(ramp < 0.6).astype(np.float32), (ramp > 0.2).astype(np.float32), blob,
            (rng.random((h, w)) < 0.5).astype(np.float32), np.eye(h, w, dtype=np.float32)]


def test_the_system_is_pytorch_grad_cams_own():
    img = np.random.default_rng(1).normal(size=(3, 17, 23))
    for im in (img, img.astype(np.float32)):  # the input crop is float32: its products are, the sums are not
        for m in _masks(17, 23):
            a_ref, b_ref = NoisyLinearImputer.setup_sparse_system(m, im, neighbors_weights)
            a, b = road_system(m, im)
            assert a.shape == a_ref.shape and abs(a - a_ref.tocsc()).max() == 0 and np.array_equal(b, b_ref)
            up, b_up = road_system(m, im, upper=True)  # what the LDLᵀ solver reads: the upper triangle, in order
            assert abs(up - sp.triu(a_ref, format="csc")).max() == 0 and up.has_sorted_indices
            assert np.array_equal(b_up, b_ref)


def _hard_masks(h: int, w: int) -> list[np.ndarray]:
    """Masks like the faithfulness call's: a nested pair from one smooth map (its 30 % and 60 % lowest), and a
    fragmented one from an edge-like map (many small holes, isolated pixels, the image border)."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:h, :w]
    smooth = np.sin(yy / 7.0) * np.cos(xx / 5.0) + xx / w
    edges = np.abs(np.diff(rng.random((h + 1, w)), axis=0)) * (1 + np.sin(xx / 3.0))
    return [(smooth > np.percentile(smooth, 30)).astype(np.float32),
            (smooth > np.percentile(smooth, 60)).astype(np.float32),
            (edges > np.percentile(edges, 45)).astype(np.float32)]


def test_the_ldl_solution_is_spsolves():
    img = np.random.default_rng(5).normal(size=(3, 44, 38)).astype(np.float32)
    masks = _hard_masks(44, 38)
    assert ((masks[1] == 0) >= (masks[0] == 0)).all()  # the pair is nested
    for m in masks + _masks(44, 38):
        a, b = road_system(m, img)
        x = road_solve(m, img)
        ref = spsolve(a, b)
        assert x.shape == ref.shape and np.abs(x - ref).max() <= 1e-10 * np.abs(ref).max()
        assert np.abs(a @ x - b).max() <= 1e-12 * np.abs(b).max()


def test_imputing_equals_the_noiseless_imputer_and_is_prepared_in_parallel():
    img = torch.randn(3, 30, 26, generator=torch.Generator().manual_seed(2))
    masks = [torch.from_numpy(m) for m in _masks(30, 26)] + [torch.zeros(30, 26)]  # every pixel removed too
    for m in masks:
        assert torch.allclose(road_impute(img, m), NoisyLinearImputer(noise=0.0)(img, m), rtol=0, atol=1e-6)
    once = SolveOnce(NoisyLinearImputer())
    once.prime(img, masks + masks[:2])
    assert len(once.solved) == len(masks)
    assert all(torch.equal(once.solved[m.numpy().tobytes()], road_impute(img, m)) for m in masks)
