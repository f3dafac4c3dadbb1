"""CAM layers, cuts and BatchNorm folding for the model families fastai's ``vision_learner`` builds, checked on
the networks themselves (``create_vision_model(arch, 2, pretrained=False)``, no learner, no export).

Expected layers are read off each torchvision architecture by hand (pytorch-grad-cam's README recommends the same
modules: ``features[-1]`` for VGG and DenseNet, the last stage for the rest); expected CAMs come from
pytorch-grad-cam on the unfolded network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from facefake_core.model import SplitModel, describe_arch, fold_batchnorm, layer_names, predict_and_cam

#: arch -> its default CAM layer: the body is Sequential(features) for all but resnet, so paths start "0.0.".
EXPECTED = {
    "resnet18": "layer4",
    "vgg11_bn": "0.0.28",  # features[-1], the MaxPool after the last conv, BatchNorm, ReLU
    "alexnet": "0.0.12",  # features[-1], the MaxPool after the last conv and ReLU
    "squeezenet1_1": "0.0.12",  # the last Fire
    "densenet121": "0.0.norm5",  # features[-1], the BatchNorm after denseblock4
    "mobilenet_v3_small": "0.0.12",  # the last Conv2dNormActivation
    "efficientnet_b0": "0.0.8",  # the last Conv2dNormActivation
}


def _net(arch: str) -> torch.nn.Module:
    import torchvision
    from fastai.vision.learner import create_vision_model

    torch.manual_seed(0)
    net = create_vision_model(getattr(torchvision.models, arch), 2, pretrained=False).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random-init BatchNorms are the identity; make folding them matter
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
    return net


@pytest.mark.parametrize("arch", list(EXPECTED))
def test_cam_layer_fold_and_cut_for_every_family(arch):
    net = _net(arch)
    layers = layer_names(net)
    assert list(layers)[-1] == EXPECTED[arch]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    folded = fold_batchnorm(net)
    with torch.no_grad():
        ref = net(x)
        torch.testing.assert_close(folded(x).softmax(1), ref.softmax(1), rtol=0, atol=1e-5)
    for path in list(layers.values())[-2:]:  # the last two candidates: the cut of the folded net is the network
        split = SplitModel.at(folded, path)
        with torch.no_grad():
            torch.testing.assert_close(split.back(split.front(x)).softmax(1), ref.softmax(1), rtol=0, atol=1e-5)
    layer = net.get_submodule(layers[EXPECTED[arch]])
    with GradCAM(model=net, target_layers=[layer]) as cam:
        net.requires_grad_(True)
        expected = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(1)] * 2)
    res = predict_and_cam(SplitModel.at(folded.requires_grad_(False), layers[EXPECTED[arch]]), x, "gradcam", [1, 1])
    from pytorch_grad_cam.utils.image import scale_cam_image

    ours = scale_cam_image(scale_cam_image(res.raw_cam, (64, 64)))
    np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_non_chain_bodies_are_cut_with_fx():
    import torchvision

    net = torchvision.models.resnet18(num_classes=2).eval()  # Learner(dls, resnet18()): not Sequential at all
    layers = layer_names(net)
    assert list(layers) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    split = SplitModel.at(net, "layer3")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(split.front(x), net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(
            net.bn1(net.conv1(x))))))))
        torch.testing.assert_close(split.back(split.front(x)), net(x))
    assert describe_arch(_net("densenet121"), None) == "Sequential-body"
    assert describe_arch(net, "resnet18") == "resnet18"
