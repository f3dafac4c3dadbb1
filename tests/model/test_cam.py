"""The one-pass CAM equals pytorch-grad-cam's own CAM on the learner's unfolded network, for the methods and layers we offer."""

import gc

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, HiResCAM, LayerCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from conftest import draw_photo
from facefake_core.imaging import load_photo
from facefake_core.model import CAM_METHODS, predict_and_cam


def _full_network_cam(model, cls, layer_module, x, target, cam_target=None):
    net = model.source_net  # the learner's own network, BatchNorms not folded
    with cls(model=net, target_layers=[layer_module]) as cam:
        was = [p.requires_grad for p in net.parameters()]
        net.requires_grad_(True)  # pytorch-grad-cam's default route: gradients through the whole network
        try:
            out = cam(input_tensor=x.clone(), targets=[cam_target or ClassifierOutputTarget(target)])
            logits = cam.outputs.detach()
        finally:
            for p, w in zip(net.parameters(), was):
                p.requires_grad_(w)
                p.grad = None
    return out, torch.softmax(logits, 1).numpy()


@pytest.mark.parametrize("cls,name", [(GradCAM, "gradcam"), (HiResCAM, "hirescam"), (LayerCAM, "layercam")])
@pytest.mark.parametrize("layer", ["layer4", "layer3"])
def test_one_pass_cam_equals_pytorch_grad_cam(model, cls, name, layer):
    x = model.prepare([load_photo(draw_photo(11, 170, 130))])
    res = predict_and_cam(model.split(layer), x, name, targets=[1])
    layer_module = model.source_net.get_submodule(model.layers[layer])
    expected, expected_probs = _full_network_cam(model, cls, layer_module, x, 1)
    h, w = x.shape[-2:]
    # The library's own post-processing of our raw grid (BaseCAM.compute_cam_per_layer, then
    # aggregate_multi_layers, which min-max scales a second time after resizing).
    ours = scale_cam_image(scale_cam_image(res.raw_cam, (w, h)))
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    np.testing.assert_allclose(res.probs, expected_probs, atol=1e-5)


def test_every_method_runs_and_gives_a_map(model):
    photo = load_photo(draw_photo(12, 150, 150))
    for method in CAM_METHODS:
        e = model.explain_batch([photo], method=method)[0]
        assert e.heatmap.shape == (150, 150) and e.heatmap.dtype == np.float32
        assert 0 <= e.heatmap.min() and e.heatmap.max() <= 1
        assert e.raw_cam.shape == (4, 4)


def test_target_class_changes_the_map(model):
    photo = load_photo(draw_photo(13, 150, 150))
    a, b = (model.explain_batch([photo], target=t)[0] for t in ("fake", "real"))
    assert a.target == "fake" and b.target == "real"
    assert a.probs == b.probs
    assert not np.allclose(a.raw_cam, b.raw_cam)


def test_batch_equals_single(model):
    photos = [load_photo(draw_photo(30 + i, 140 + 10 * i, 120)) for i in range(3)]
    batch = model.explain_batch(photos)
    for ph, b in zip(photos, batch):
        s = model.explain_batch([ph])[0]
        np.testing.assert_allclose(b.raw_cam, s.raw_cam, rtol=1e-4, atol=1e-6)
        assert b.probs == pytest.approx(s.probs, abs=1e-6)


def test_no_hook_or_grad_left_behind(model):
    before = [(len(m._forward_hooks), len(m._backward_hooks), len(m._forward_pre_hooks)) for m in model.net.modules()]
    model.explain(draw_photo(14, 100, 100))
    model.explain(draw_photo(14, 100, 100), method="ablationcam")
    gc.collect()
    after = [(len(m._forward_hooks), len(m._backward_hooks), len(m._forward_pre_hooks)) for m in model.net.modules()]
    assert before == after
    assert all(p.grad is None and not p.requires_grad for p in model.net.parameters())


def test_unknown_method_layer_and_target_are_refused(model):
    with pytest.raises(ValueError, match="unknown CAM method"):
        model.explain(draw_photo(1, 64, 64), method="nope")
    with pytest.raises(ValueError, match="unknown layer"):
        model.explain(draw_photo(1, 64, 64), layer="layer9")
    with pytest.raises(ValueError, match="unknown target"):
        model.explain(draw_photo(1, 64, 64), target="cat")



def test_margin_target_equals_pytorch_grad_cam_on_the_logit_difference(model):
    photo = load_photo(draw_photo(31, 170, 130))
    e = model.explain_batch([photo], target="margin")[0]
    assert e.target == "fake − real" and e.probs == model.explain_batch([photo])[0].probs
    x = model.prepare([photo])
    layer_module = model.source_net.get_submodule(model.layers["layer4"])
    fake, real = model.vocab.index("fake"), model.vocab.index("real")
    expected, _ = _full_network_cam(model, GradCAM, layer_module, x, None,
                                    cam_target=lambda out: out[fake] - out[real])
    h, w = x.shape[-2:]
    np.testing.assert_allclose(scale_cam_image(scale_cam_image(e.raw_cam[None], (w, h))), expected, atol=1e-4)


def test_every_class_cam_equals_pytorch_grad_cam_for_that_class(model):
    photos = [load_photo(draw_photo(s, 170, 130)) for s in (41, 42, 43)]
    x = model.prepare(photos)
    res = predict_and_cam(model.split(), x, "gradcam", every_class=True)
    assert res.class_cams.shape == (3, len(model.vocab), 4, 4)
    layer_module = model.source_net.get_submodule(model.layers["layer4"])
    h, w = x.shape[-2:]
    for i in range(len(photos)):
        for c in range(len(model.vocab)):
            expected, probs = _full_network_cam(model, GradCAM, layer_module, x[i: i + 1], c)
            ours = scale_cam_image(scale_cam_image(res.class_cams[i: i + 1, c], (w, h)))
            np.testing.assert_allclose(ours, expected, atol=1e-4)
            np.testing.assert_allclose(res.probs[i], probs[0], atol=1e-5)
    # The map of each image's predicted class is the one predict_and_cam gives by default, and so are the rest.
    plain = predict_and_cam(model.split(), x, "gradcam")
    np.testing.assert_array_equal(res.targets, plain.targets)
    np.testing.assert_allclose(res.raw_cam, plain.raw_cam, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(res.features, plain.features, rtol=1e-3, atol=1e-5)  # a batch of 6 against 3
    with pytest.raises(ValueError, match="margin"):
        predict_and_cam(model.split(), x, "gradcam", model.target_index("margin"), every_class=True)
