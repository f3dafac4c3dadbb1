"""cam_shares equals drawing the map on the photo and summing it (cam_in_bokeh of map_to_photo), and hand sums."""

import numpy as np
import pytest

from conftest import draw_photo
from facefake_core.imaging import FocusMeasures, cam_in_bokeh, map_to_photo, measure_focus
from facefake_core.imaging.shares import cam_shares
from facefake_core.model import Preprocessing


def measures(rng: np.random.Generator, hw: tuple[int, int], face) -> FocusMeasures:
    grid = (max(1, hw[0] // 14), max(1, hw[1] // 14))
    block_map = rng.uniform(0, 1, grid).astype(np.float32)
    return FocusMeasures(face, "cascade", 1.0, 0.5, 2.0, 1.0, 1.0, 0.3, 0.3, True, 1.0, hw, block_map)


@pytest.mark.parametrize("method", ["crop", "squish", "pad"])
@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (211, 97), (256, 256)])
def test_equals_the_map_on_the_photo(method, hw):
    """Face boxes are on the photo (clip_box) but may leave the crop: a corner box, and the whole photo."""
    rng = np.random.default_rng(sum(hw))
    box = Preprocessing(size=(256, 256), method=method).crop_box(hw[1], hw[0])
    for grid, face in [((8, 8), (30, 40, 200, 220)), ((7, 9), None), ((16, 16), (0, hw[0] - 20, 50, hw[0])),
                       ((8, 8), (0, 0, hw[1], hw[0]))]:
        raw = rng.gamma(1.0, 1.0, grid).astype(np.float32)
        m = measures(rng, hw, face)
        expected = cam_in_bokeh(map_to_photo(raw, box, hw), m)
        got = cam_shares(raw, box, m)
        assert got.keys() == expected.keys()
        for k in got:
            assert got[k] == pytest.approx(expected[k], abs=1e-6), (k, grid, face)


def test_on_a_real_photo_and_degenerate_maps():
    img = draw_photo(3, 320, 240)
    m = measure_focus(img)
    box = Preprocessing(size=(64, 64)).crop_box(320, 240)
    raw = np.zeros((8, 8), np.float32)
    raw[2:5, 1:3] = 1.0
    expected = cam_in_bokeh(map_to_photo(raw, box, (240, 320)), m)
    assert cam_shares(raw, box, m) == pytest.approx(expected, abs=1e-6)
    flat = np.full((8, 8), 0.3, np.float32)
    assert cam_shares(flat, box, m) == cam_in_bokeh(map_to_photo(flat, box, (240, 320)), m) == {
        "bokeh_share": 0.0, "face_share": 0.0}


def test_hand_computed_shares():
    """A 2x2 grid on a 4x4 photo, crop = photo: cv2's bilinear upsampling by 2 gives rows (and columns) weights
    [1, 0], [.75, .25], [.25, .75], [0, 1]; grid [[0, 0], [0, 1]] -> map = outer(c, c) with c = [0, .25, .75, 1],
    min 0, max 1. Defocused: the left 2 columns (blocks of 2 px); face: the bottom-right pixel."""
    block_map = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    m = FocusMeasures((3, 3, 4, 4), "cascade", 1.0, 0.5, 2.0, 1.0, 1.0, 0.5, 0.3, True, 1.0, (4, 4), block_map)
    c = np.array([0, 0.25, 0.75, 1.0])
    heat = np.outer(c, c)
    total = heat.sum()
    got = cam_shares(np.array([[0, 0], [0, 1]], np.float32), (0, 0, 4, 4), m)
    assert got["bokeh_share"] == pytest.approx(heat[:, :2].sum() / total, abs=1e-6)
    assert got["face_share"] == pytest.approx(1.0 / total, abs=1e-6)
