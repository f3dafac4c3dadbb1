"""Preprocessing matches what ``learn.predict`` feeds the model, and the crop box is where the model looked."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import draw_photo
from facefake_core.model import Preprocessing


def test_probabilities_match_learn_predict(model, fastai_learner, tmp_path):
    for i, (w, h) in enumerate([(200, 150), (150, 220), (128, 128), (640, 90)]):
        p = tmp_path / f"p{i}.png"
        Image.fromarray(draw_photo(20 + i, w, h)).save(p)
        with fastai_learner.no_bar():
            _, _, expected = fastai_learner.predict(p)
        ours = model.predict(p).probs
        np.testing.assert_allclose([ours["fake"], ours["real"]], expected.numpy(), atol=1e-5)


def test_input_tensor_matches_fastai_test_dl(model, fastai_learner, tmp_path):
    p = tmp_path / "x.png"
    Image.fromarray(draw_photo(3, 300, 170)).save(p)
    expected = fastai_learner.dls.test_dl([p]).one_batch()[0].as_subclass(torch.Tensor)
    from facefake_core.imaging import load_photo

    np.testing.assert_allclose(model.prepare([load_photo(p)]).numpy(), expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("w,h", [(300, 170), (170, 300), (128, 128), (97, 211)])
def test_crop_box_holds_the_pixels_fastai_feeds(w, h):
    """Cropping the box by hand and resizing it with PIL gives fastai's Resize output exactly."""
    prep = Preprocessing(size=(64, 64))
    pixels = draw_photo(5, w, h)
    x0, y0, x1, y1 = prep.crop_box(w, h)
    assert (x1 - x0, y1 - y0) == (min(w, h),) * 2  # a square crop of the short side
    by_hand = np.asarray(Image.fromarray(pixels).crop((x0, y0, x1, y1)).resize((64, 64), Image.BILINEAR))
    ours = prep.item(pixels).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ours, by_hand)


def test_squish_box_is_whole_photo_and_pad_box_extends_past_it():
    assert Preprocessing(size=(64, 64), method="squish").crop_box(300, 170) == (0, 0, 300, 170)
    x0, y0, x1, y1 = Preprocessing(size=(64, 64), method="pad").crop_box(300, 170)
    assert (x0, x1) == (0, 300) and y0 < 0 and y1 > 170 and (y1 - y0) == 300


def test_exif_orientation_is_applied(model, tmp_path):
    """A photo stored sideways with EXIF orientation 6 is seen upright: same prediction as the upright file."""
    upright = draw_photo(9, 120, 200)
    stored = np.rot90(upright, 1)  # what a camera writes when held in portrait (rotate 90 CCW on disk)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    sideways = tmp_path / "side.png"
    Image.fromarray(np.ascontiguousarray(stored)).save(sideways, exif=exif)
    straight = tmp_path / "up.png"
    Image.fromarray(upright).save(straight)
    e = model.explain(sideways)
    assert e.photo.shape == upright.shape
    np.testing.assert_array_equal(e.photo, upright)
    assert model.predict(sideways).probs == model.predict(straight).probs
