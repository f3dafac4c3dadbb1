"""The item and batch transforms without fastai's dispatch give fastai's own tensors bit for bit.

The expected tensors come from fastai itself: its ``Resize`` / ``RandomResizedCrop`` and ``ToTensor`` in a
``Pipeline`` at ``split_idx=1`` (as ``learn.predict`` runs them), and ``IntToFloatTensor`` + ``Normalize``.
"""

import numpy as np
import pytest
import torch
from fastai.data.transforms import IntToFloatTensor, Normalize, ToTensor
from fastai.torch_core import TensorImage
from fastai.vision.augment import RandomResizedCrop, Resize
from fastai.vision.core import PILImage
from fasttransform import Pipeline

from conftest import draw_photo
from facefake_core.model import Preprocessing

SHAPES = [(640, 480), (480, 640), (256, 256), (97, 211), (211, 97), (1, 300), (300, 1), (64, 65), (1023, 767)]


def fastai_item(tfm, pixels: np.ndarray) -> torch.Tensor:
    return Pipeline([tfm, ToTensor()], split_idx=1)(PILImage.create(pixels)).as_subclass(torch.Tensor)


@pytest.mark.parametrize("method", ["crop", "squish", "pad"])
@pytest.mark.parametrize("size", [(64, 64), (64, 48), (37, 80)])  # (w, h), as fastai stores Resize.size
def test_resize_item_equals_fastai(method, size):
    prep = Preprocessing(size=size, method=method, pad_mode="reflection")
    tfm = Resize((size[1], size[0]), method=method, pad_mode="reflection")
    for i, (w, h) in enumerate(SHAPES):
        pixels = draw_photo(40 + i, w, h)
        ours, theirs = prep.item(pixels), fastai_item(tfm, pixels)
        assert ours.dtype == theirs.dtype == torch.uint8
        assert torch.equal(ours, theirs), (method, size, (w, h))


@pytest.mark.parametrize("val_xtra", [0.14, 0.0, 0.3])
def test_random_resized_crop_item_equals_fastai(val_xtra):
    prep = Preprocessing(size=(48, 48), method="random_resized_crop", val_xtra=val_xtra)
    tfm = RandomResizedCrop(48, val_xtra=val_xtra)
    for i, (w, h) in enumerate(SHAPES):
        pixels = draw_photo(60 + i, w, h)
        assert torch.equal(prep.item(pixels), fastai_item(tfm, pixels)), (val_xtra, (w, h))


def test_the_fast_path_is_taken_only_without_padding():
    """Padding goes through fastai's own code (a wrong shortcut there would not be caught above)."""
    assert Preprocessing(size=(64, 64), method="pad")._pil_steps(300, 170) is None
    assert Preprocessing(size=(64, 64), method="pad")._pil_steps(170, 170) is not None
    assert Preprocessing(size=(64, 64), method="crop")._pil_steps(300, 170) == ((65, 0, 235, 170), (64, 64), None)


@pytest.mark.parametrize("stats", [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), (None, None)])
def test_batch_equals_fastai(stats):
    mean, std = stats
    prep = Preprocessing(size=(64, 64), mean=mean, std=std)
    items = [prep.item(draw_photo(80 + i, 200, 150)) for i in range(3)]
    norm = [] if mean is None else [Normalize.from_stats(mean, std, cuda=False)]
    expected = Pipeline([IntToFloatTensor(), *norm], split_idx=1)(TensorImage(torch.stack(items)))
    ours = prep.batch(items)
    assert type(ours) is torch.Tensor and ours.dtype == torch.float32
    assert torch.equal(ours, expected.as_subclass(torch.Tensor))
