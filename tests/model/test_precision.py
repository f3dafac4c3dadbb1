"""The opt-in precisions (:meth:`Model.variant`): bf16 autocast on the CPU gives what torch's own autocast of the
fp32 network gives, drifts from fp32 by a small measured amount, and is stored apart from fp32 results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefake_core.evaluation import Store, evaluate
from facefake_core.imaging import load_photo
from facefake_core.model import forward_features, predict_and_cam

from conftest import draw_photo, make_image_folder


@pytest.fixture(scope="module")
def photos():
    return [load_photo(draw_photo(seed, 160, 120)) for seed in range(6)]


def test_bf16_variant_is_torch_autocast_of_the_fp32_network(model, photos):
    v = model.variant("bf16")
    x = model.prepare(photos)
    with torch.inference_mode():
        fp32 = torch.softmax(model.net(x), 1).numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = torch.softmax(model.net(x).float(), 1).numpy()  # torch's own autocast, the whole network
    got, feats = forward_features(v.net, v.prepare(photos))
    # The variant keeps the head's 512x2 Linear in fp32; that is the only difference from autocasting it all.
    np.testing.assert_allclose(got, expected, atol=2e-3)
    drift = float(np.abs(got - fp32).max())
    print(f"bf16 max probability drift from fp32 on {len(photos)} images: {drift:.2e}")
    assert 0 < drift < 5e-2, "bf16 must change the numbers a little (so it is really on), not a lot"
    assert feats is not None and feats.dtype == np.float32 and feats.shape == (len(photos), 512)
    cam = predict_and_cam(v.split(), v.prepare(photos))
    assert cam.raw_cam.dtype == np.float32 and cam.features is not None
    np.testing.assert_allclose(cam.probs, expected, atol=2e-3)


def test_variants_are_named_and_refused_by_name(model):
    assert model.variant() is model and model.variant("fp32") is model
    v = model.variant("bf16")
    assert (v.info.sha256, v.info.precision, v.info.compiled) == (model.info.sha256 + "+bf16", "bf16", False)
    assert model.info.precision == "fp32" and v.net is not model.net and v.source_net is model.source_net
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        model.variant("fp8")


def test_bf16_results_are_stored_apart_from_fp32(model, tmp_path):
    folder = make_image_folder(tmp_path / "set", n=2)
    store = Store(tmp_path / "s.sqlite")
    first = evaluate(model, folder, store=store, with_focus=False)
    half = evaluate(model.variant("bf16"), folder, store=store, with_focus=False)
    again = evaluate(model, folder, store=store, with_focus=False)
    assert (first.computed, half.computed, again.computed) == (4, 4, 0), "bf16 rows must not be read as fp32's"
    assert store.count_results(model.info.sha256) == 4 and store.count_results(model.info.sha256 + "+bf16") == 4
    assert half.model_sha.endswith("+bf16")
    drift = max(abs(a.probs[c] - b.probs[c]) for a, b in zip(first.rows, half.rows) for c in model.vocab)
    assert 0 < drift < 5e-2
