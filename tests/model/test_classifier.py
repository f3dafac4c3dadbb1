"""Heatmaps land on the pixels the model saw; model info; shared scales."""

import numpy as np
import pytest

from conftest import draw_photo
from facefake_core.imaging import map_to_photo


@pytest.mark.parametrize("w,h", [(400, 160), (160, 400)])
def test_heatmap_is_mapped_through_the_crop(model, w, h):
    """Landscape and portrait: the map is zero outside the centre crop and equals the resized grid inside."""
    e = model.explain(draw_photo(40, w, h))
    x0, y0, x1, y1 = e.crop_box
    side = min(w, h)
    assert (x1 - x0, y1 - y0) == (side, side)
    assert (x0, y0) == ((w - side) // 2, (h - side) // 2)  # fastai's centre crop, worked out by hand
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert e.heatmap[outside].max() == 0
    inside = e.heatmap[y0:y1, x0:x1]
    assert inside.max() == pytest.approx(1, abs=1e-3)
    # The hottest grid cell lands in the matching part of the crop.
    gy, gx = np.unravel_index(np.argmax(e.raw_cam), e.raw_cam.shape)
    gh, gw = e.raw_cam.shape
    cell = inside[gy * side // gh:(gy + 1) * side // gh, gx * side // gw:(gx + 1) * side // gw]
    assert cell.mean() > inside.mean()


def test_off_centre_grid_cell_maps_to_its_place():
    """A one-hot grid cell of a 4x4 map appears in the matching quarter of an off-centre crop box."""
    grid = np.zeros((4, 4), np.float32)
    grid[0, 3] = 1.0  # top-right cell
    heat = map_to_photo(grid, (100, 20, 180, 100), (120, 300))
    ys, xs = np.nonzero(heat > 0.5)
    assert xs.min() >= 100 + 40 and xs.max() < 180 and ys.min() >= 20 and ys.max() < 20 + 40


def test_shared_scale_keeps_relative_strength():
    weak, strong = np.full((2, 2), 1.0, np.float32), np.full((2, 2), 4.0, np.float32)
    box, hw = (0, 0, 10, 10), (10, 10)
    assert map_to_photo(weak, box, hw, vmax=4.0).max() == pytest.approx(0.25)
    assert map_to_photo(strong, box, hw, vmax=4.0).max() == pytest.approx(1.0)


def test_info_describes_the_learner(model, fastai_learner):
    info = model.info.to_dict()
    assert info["arch"] == "resnet50"
    assert info["vocab"] == list(fastai_learner.dls.vocab) == ["fake", "real"]
    assert info["input_size"] == [128, 128] and info["resize_method"] == "crop"
    assert info["target_layer"] == "layer4" and info["layers"] == ["layer1", "layer2", "layer3", "layer4"]
    assert model.net.get_submodule(model.layers["layer4"]) is model.net[0][-1]
    import hashlib
    from pathlib import Path

    assert info["sha256"] == hashlib.sha256(Path(info["path"]).read_bytes()).hexdigest()


def test_batchnorm_folding_keeps_outputs_and_layers(model):
    """Folded against unfolded, with BatchNorm statistics made non-trivial (a random-init net has mean 0, var 1)."""
    import copy

    import torch
    from torch import nn

    from facefake_core.imaging import load_photo
    from facefake_core.model import fold_batchnorm

    src = copy.deepcopy(model.source_net)
    g = torch.Generator().manual_seed(0)
    for m in src.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.3, generator=g)
            m.running_var.uniform_(0.3, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.normal_(0, 0.1, generator=g)
    folded = fold_batchnorm(src)
    assert any(isinstance(m, nn.BatchNorm2d) for m in src[0].modules())  # the source is left as it was
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded[0].modules())
    assert len(folded[0]) == len(src[0])
    x = model.prepare([load_photo(draw_photo(3, 160, 140))]).contiguous()
    with torch.no_grad():
        for i in range(1, len(src[0])):  # after every child (the stem conv alone now holds its BatchNorm too)
            a, b = src[0][: i + 1](x), folded[0][: i + 1](x)
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
        torch.testing.assert_close(folded(x).softmax(1), src(x).softmax(1), rtol=0, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.net[0].modules())  # what the model runs


def test_a_block_fx_cannot_trace_is_kept_unfolded():
    import torch
    from torch import nn

    from facefake_core.model import fold_batchnorm

    class Gate(nn.Module):  # data-dependent control flow: torch.fx cannot trace it
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y if float(y.mean()) > -1e9 else -y

    net = nn.Sequential(nn.Sequential(Gate(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)), nn.Flatten()).eval()
    net[0][2].running_var.fill_(2.0)
    folded = fold_batchnorm(net)
    assert isinstance(folded[0][0], Gate) and isinstance(folded[0][0].bn, nn.BatchNorm2d)
    assert isinstance(folded[0][2], nn.Identity)  # the stem-style conv, bn pair is folded
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-5, atol=1e-6)
    other = nn.Sequential(Gate(), nn.Flatten())  # not a (body, head) layout: folded the same way
    assert isinstance(fold_batchnorm(other)[0].bn, nn.BatchNorm2d)
