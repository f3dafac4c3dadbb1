"""The fastai-course learner recipes of issue 20, built untrained on a few generated pictures and exported.

Used by ``tests/model/test_recipes.py`` (fastai 2.8, in the test session) and by
``tests/safeload/fixtures/make_fastai27_fixture.py`` (fastai 2.7.19, committed fixtures). Only the fastai API
both versions share is used. Nothing is downloaded: every model is built with ``pretrained=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

SIZE = 64
#: (seed, width, height) of the probe pictures: landscape and portrait, so every crop matters.
PROBES = ((7, 96, 72), (8, 60, 110))


def picture(seed: int, width: int, height: int) -> Image.Image:
    """A deterministic RGB picture: a colour gradient, an ellipse and mild noise, from ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], -1) * rng.uniform(60, 220, 3)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    inside = ((xx - cx) / (0.25 * width)) ** 2 + ((yy - cy) / (0.35 * height)) ** 2 < 1
    base[inside] = rng.uniform(80, 255, 3)
    base += rng.normal(0, 8, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def image_folder(root: Path, n: int = 3) -> Path:
    """``root/train/{fake,real}`` and ``root/valid/{fake,real}``, ``n`` PNGs each (96x80 pixels)."""
    for split in ("train", "valid"):
        for k, label in enumerate(("fake", "real")):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                picture(1000 * (split == "valid") + 100 * k + i, 96, 80).save(folder / f"{label}_{i}.png")
    return root


def _spread(learn: Any) -> Any:
    """Spread a random-init network's outputs (its BatchNorms make every image look alike) and keep the
    probabilities away from 0 and 1, so a preprocessing mismatch shows in them."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in learn.model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) and m.running_mean is not None:
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
        last = [m for m in learn.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(0.05)
    return learn


def _dls(data: Path, item_tfms: Any, batch_tfms: Any = None) -> Any:
    from fastai.vision.all import ImageDataLoaders

    return ImageDataLoaders.from_folder(data, train="train", valid="valid", item_tfms=item_tfms,
                                        batch_tfms=batch_tfms, bs=2, num_workers=0)


def _datablock(data: Path) -> Any:
    from fastai.vision.all import (CategoryBlock, DataBlock, ImageBlock, Normalize, RandomSplitter, Resize,
                                   aug_transforms, get_image_files, imagenet_stats, parent_label)

    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                      splitter=RandomSplitter(valid_pct=0.25, seed=42), item_tfms=Resize(SIZE, method="squish"),
                      batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    return block.dataloaders(data, bs=2, num_workers=0)


def _vision(arch: Any, **kwargs: Any) -> Callable[[Any], Any]:
    def build(dls: Any) -> Any:
        from fastai.vision.all import vision_learner

        return vision_learner(dls, arch, pretrained=False, **kwargs)
    return build


def recipes() -> dict[str, Callable[[Path], Any]]:
    """Recipe name -> ``build(data_folder) -> Learner`` (untrained, outputs spread)."""
    from fastai.vision import all as fv

    norm = fv.Normalize.from_stats(*fv.imagenet_stats)

    def rrc(data: Path) -> Any:  # the course's bear classifier
        dls = _dls(data, fv.RandomResizedCrop(SIZE, min_scale=0.5), fv.aug_transforms())
        return _vision(fv.resnet18, metrics=fv.error_rate)(dls)

    def presizing(data: Path) -> Any:
        dls = _dls(data, fv.Resize(96), [*fv.aug_transforms(size=SIZE, min_scale=0.75), norm])
        return _vision(fv.resnet34, metrics=[fv.accuracy, fv.F1Score(), fv.RocAucBinary()])(dls)

    def mixup(data: Path) -> Any:
        dls = _dls(data, fv.Resize(SIZE), [*fv.aug_transforms(), norm])
        return _vision(fv.resnet18, cbs=[fv.MixUp(0.2)])(dls)

    def trackers(data: Path) -> Any:
        dls = _dls(data, fv.Resize(SIZE), [norm])
        return _vision(fv.resnet18, cbs=[fv.SaveModelCallback(), fv.EarlyStoppingCallback(patience=3),
                                         fv.CSVLogger(), fv.GradientAccumulation(4), fv.CutMix(1.0),
                                         fv.ShowGraphCallback()])(dls)

    def label_smoothing(data: Path) -> Any:
        dls = _dls(data, fv.Resize(SIZE, method="pad", pad_mode="zeros"), [norm])
        return _vision(fv.resnet18, loss_func=fv.LabelSmoothingCrossEntropy())(dls)

    def xresnet(data: Path) -> Any:
        dls = _dls(data, fv.Resize(SIZE), [norm])
        return fv.Learner(dls, fv.xresnet50(n_out=2), metrics=fv.accuracy)

    def fp16_no_normalize(data: Path) -> Any:
        dls = _dls(data, fv.Resize(SIZE), fv.aug_transforms())
        return _vision(fv.squeezenet1_1)(dls).to_fp16()

    def datablock(data: Path) -> Any:
        return _vision(fv.resnet18, metrics=fv.error_rate)(_datablock(data))

    def name_re(data: Path) -> Any:  # labels from file names: RegexLabeller
        files = fv.get_image_files(data / "train")
        return _vision(fv.resnet18)(fv.ImageDataLoaders.from_name_re(
            data / "train", files, r"^(fake|real)_\d+\.png$", item_tfms=fv.Resize(SIZE), bs=2))

    def resnet101(data: Path) -> Any:
        return _vision(fv.resnet101)(_dls(data, fv.Resize(SIZE), [norm]))

    def densenet(data: Path) -> Any:
        return _vision(fv.densenet121)(_dls(data, fv.Resize(SIZE), [norm]))

    def convnext(data: Path) -> Any:
        return _vision("convnext_atto")(_dls(data, fv.Resize(SIZE), [norm]))

    built = {name: fn for name, fn in locals().items() if callable(fn) and name not in ("norm",)}
    return {name: (lambda data, fn=fn: _spread(fn(data))) for name, fn in built.items()}


def recipes27() -> dict[str, tuple[Callable[[Path], Any], str]]:
    """The rows exported by fastai 2.7.19 (small networks: the files are committed): name -> (build, CAM layer).

    ``course``: a DataBlock (RandomSplitter, parent_label), RandomResizedCrop, no Normalize, MixUp, the tracker
    callbacks, label smoothing, F1Score, ``.to_fp16()``. ``presizing``: Resize then ``aug_transforms(size=...)``
    (RandomResizedCropGPU), Normalize, a narrow ``Learner(dls, xresnet18(...))``.
    """
    from fastai.vision import all as fv

    def course(data: Path) -> Any:
        block = fv.DataBlock(blocks=(fv.ImageBlock, fv.CategoryBlock), get_items=fv.get_image_files,
                             get_y=fv.parent_label, splitter=fv.RandomSplitter(valid_pct=0.25, seed=42),
                             item_tfms=fv.RandomResizedCrop(SIZE, min_scale=0.5), batch_tfms=fv.aug_transforms())
        dls = block.dataloaders(data, bs=2, num_workers=0)
        return fv.vision_learner(dls, fv.squeezenet1_1, pretrained=False, lin_ftrs=[],
                                 loss_func=fv.LabelSmoothingCrossEntropy(), metrics=[fv.accuracy, fv.F1Score()],
                                 cbs=[fv.MixUp(0.2), fv.SaveModelCallback(), fv.EarlyStoppingCallback()]).to_fp16()

    def presizing(data: Path) -> Any:
        norm = fv.Normalize.from_stats(*fv.imagenet_stats)
        dls = _dls(data, fv.Resize(96), [*fv.aug_transforms(size=SIZE, min_scale=0.75), norm])
        return fv.Learner(dls, fv.xresnet18(n_out=2, widen=0.125), metrics=fv.error_rate)

    return {"course": (lambda data: _spread(course(data)), "0.0.12"),
            "presizing": (lambda data: _spread(presizing(data)), "7")}
