"""The seed's fine-tuning recipe as one function, plus the augmentations of the studio fix.

The seed fine-tuned each round the same way: load the previous learner, make new ``DataLoaders`` from a folder
with the learner's own item size, ``fine_tune`` (a frozen epoch, then unfrozen), ``unfreeze`` and
``fit_one_cycle(lr_max=slice(lr / 100, lr))`` with discriminative learning rates, then ``export``.

The fix for the studio blind spot (``defocus_aug=True``) adds two training-only item transforms:
:class:`DefocusBackground` (a disc blur outside a central face region, like a narrow depth of field) and
:class:`RandomJpeg` (re-encoding). They are fastai ``RandTransform``s with ``split_idx = 0``, so they never
run on validation or inference data, and they are taken out again before export: the exported learner's
pipeline holds only fastai's own transforms (``Resize`` and ``Normalize``), which a safe unpickler with an
allowlist of fastai classes can load.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import fastai.callback.progress  # noqa: F401  (patches Learner.no_bar, used to keep training quiet)
import fastai.callback.schedule  # noqa: F401  (patches Learner.fit_one_cycle and fine_tune)
import numpy as np
from fastai.callback.core import Callback
from fastai.data.transforms import Normalize
from fastai.learner import Learner
from fastai.vision.augment import RandomCrop, RandTransform, Resize
from fastai.vision.core import PILImage, imagenet_stats
from fastai.vision.data import ImageDataLoaders
from fastcore.basics import fastuple

from ..errors import HardSetError, ModelLoadError
from ..imaging.edits import disc_defocus, jpeg_roundtrip
from ..progress import Progress


class DefocusBackground(RandTransform):
    """With probability ``p``, disc-blurs everything outside a central ellipse where a portrait's face sits.

    The ellipse's centre, radii and the blur radius are drawn per image; radii are fractions of the side.
    """

    split_idx, order = 0, 0  # training only; before the crop, so the whole portrait is defocused

    def __init__(self, p: float = 0.5, blur: tuple[float, float] = (0.02, 0.05),
                 radius: tuple[float, float] = (0.17, 0.27)) -> None:
        super().__init__(p=p)
        self.blur, self.radius = blur, radius

    def before_call(self, b, split_idx: int) -> None:
        super().before_call(b, split_idx)
        self.centre = (random.uniform(0.42, 0.58), random.uniform(0.36, 0.48))
        self.axes = random.uniform(*self.radius)
        self.disc = random.uniform(*self.blur)

    def encodes(self, x: PILImage) -> PILImage:
        w, h = x.size
        keep = np.zeros((h, w), np.float32)
        cv2.ellipse(keep, (round(self.centre[0] * w), round(self.centre[1] * h)),
                    (round(self.axes * w), round(self.axes * 1.45 * h)), 0, 0, 360, 1.0, -1)
        keep = cv2.GaussianBlur(keep, (0, 0), max(1.0, 0.01 * w))
        out = disc_defocus(np.asarray(x.convert("RGB")), keep, self.disc * w)
        return PILImage.create(np.clip(np.rint(out), 0, 255).astype(np.uint8))


class RandomJpeg(RandTransform):
    """With probability ``p``, re-encodes the image as JPEG at a quality drawn from ``quality``."""

    split_idx, order = 0, 0

    def __init__(self, p: float = 0.3, quality: tuple[int, int] = (80, 95)) -> None:
        super().__init__(p=p)
        self.quality = quality

    def before_call(self, b, split_idx: int) -> None:
        super().before_call(b, split_idx)
        self.q = random.randint(*self.quality)

    def encodes(self, x: PILImage) -> PILImage:
        return PILImage.create(jpeg_roundtrip(np.asarray(x.convert("RGB")), self.q))


class ReportProgress(Callback):
    """Reports training batches as ``progress(done, total, what)``, counted across several ``fit`` calls."""

    order = 90

    def __init__(self, progress: Progress, total: int, what: str) -> None:
        self.progress, self.total, self.what, self.done = progress, total, what, 0

    def after_batch(self) -> None:
        if self.training:
            self.done += 1
            self.progress(min(self.done, self.total), self.total, self.what)


def folder_dls(data_dir: Path, item_tfms: list, bs: int) -> ImageDataLoaders:
    """The seed's loaders: 20% validation split with seed 42, ImageNet normalisation, no resampling augments.

    The seed added fastai's ``aug_transforms``; they warp, rotate and zoom, which resamples every pixel and
    interpolates a generator's periodic trace away, so here the only augments are the ``item_tfms`` given.
    """
    return ImageDataLoaders.from_folder(
        Path(data_dir), valid_pct=0.2, seed=42, item_tfms=item_tfms,
        batch_tfms=[Normalize.from_stats(*imagenet_stats)], bs=bs, num_workers=0)


class AlignedRandomCrop(RandomCrop):
    """``RandomCrop`` whose corner snaps to multiples of ``step`` (the validation crop is the centre crop).

    A generator's trace is periodic on the image grid; at inference the whole portrait is seen from its
    corner, so the trace's phase is always the same. Cropping at arbitrary offsets would show the network
    ``step * step`` phases of it, each to be learnt separately.
    """

    def __init__(self, size: int, step: int = 4, **kwargs) -> None:
        super().__init__(size, **kwargs)
        self.step = step

    def before_call(self, b, split_idx: int) -> None:
        super().before_call(b, split_idx)
        self.tl = fastuple(*(v // self.step * self.step for v in self.tl))


def train_item_tfms(size: int, crop: int | None, extra: list | None = None) -> list:
    """Training item transforms: optional augments, then an aligned random crop or a ``Resize``.

    No flips: a mirrored periodic trace is another pattern to learn, and inference never sees one.
    """
    return [*(extra or []), AlignedRandomCrop(crop) if crop else Resize(size)]


def export_for_inference(learn: Learner, data_dir: Path, size: int, out: Path, bs: int = 16) -> Path:
    """Exports ``learn`` with inference loaders only: ``Resize(size)`` and ``Normalize``, nothing custom.

    Training may have used crops or this module's augmentations; inference uses what the exported
    pipeline says, so the loaders are swapped before ``export``. The write goes through a temporary file
    so that an interrupted export never leaves a truncated ``.pkl`` behind.
    """
    learn.dls = folder_dls(data_dir, [Resize(size)], bs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    learn.export(tmp.resolve())
    tmp.replace(out)
    return out


def item_size(learn: Learner) -> int:
    """The side of the learner's ``Resize`` item transform (its inference size)."""
    for tfm in learn.dls.after_item.fs:
        if isinstance(tfm, Resize):
            return int(max(tfm.size))
    raise ModelLoadError("the learner has no Resize item transform, so its input size is unknown; pass size")


def _load_for_training(path: Path, workdir: Path) -> Learner:
    """Loads an exported learner to train further (the one place a loader is chosen): the safe loader, so
    fine-tuning a downloaded ``.pkl`` runs no code from it either.

    The safe loader restores callbacks a file carries (``SaveModelCallback``, ``CSVLogger`` ...) without calling
    them, but training would run them with the file's paths and settings, so every callback beyond fastai's own
    training loop is removed, and the learner's path is the output's folder.
    """
    from fastai.callback.core import TrainEvalCallback
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import CastToTensor, Recorder

    from ..safeload import load_learner_safely

    learn = load_learner_safely(path)[0]
    keep = (TrainEvalCallback, Recorder, CastToTensor, ProgressCallback)
    learn.remove_cbs([cb for cb in learn.cbs if type(cb) not in keep])
    learn.path, learn.model_dir = Path(workdir), "models"
    return learn


def finetune(learner_path: Path, data_dir: Path, out: Path, *, epochs: int = 3, defocus_aug: bool = False,
             lr: float = 1e-3, bs: int = 16, size: int | None = None, crop: int | None = None,
             freeze_epochs: int = 1, progress: Progress | None = None) -> Path:
    """Fine-tunes an exported learner on an ``ImageFolder``-style ``data_dir`` and exports the result.

    Args:
        learner_path: an exported fastai learner (``learn.export``).
        data_dir: folder with one subfolder per class (``fake/``, ``real/``).
        out: where to write the new exported learner.
        epochs: epochs of the final unfrozen ``fit_one_cycle(lr_max=slice(lr / 100, lr))``.
        defocus_aug: add :class:`DefocusBackground` and :class:`RandomJpeg` to the training items.
        lr: the largest learning rate (the head's); the first layer group gets ``lr / 100``.
        bs: batch size.
        size: inference item size; ``None`` keeps the learner's own ``Resize`` size.
        crop: train on random ``crop`` x ``crop`` crops on a 4 px grid (:class:`AlignedRandomCrop`, no
            resampling) instead of whole resized portraits; the export still uses ``Resize(size)``.
        freeze_epochs: frozen-body epochs of ``fine_tune`` before its single unfrozen epoch.
        progress: called as ``progress(done, total, what)`` after each training batch.

    Returns:
        ``out``.

    Raises:
        HardSetError: ``data_dir``'s class folders are not the learner's classes.
    """
    learn = _load_for_training(Path(learner_path), Path(out).parent)
    size = size or item_size(learn)
    extra = [DefocusBackground(), RandomJpeg()] if defocus_aug else []
    vocab = list(learn.dls.vocab)
    learn.dls = folder_dls(data_dir, train_item_tfms(size, crop, extra), bs)
    if list(learn.dls.vocab) != vocab:  # the head's outputs are tied to the learner's class order
        raise HardSetError(f"{data_dir}: class folders {list(learn.dls.vocab)} do not match the learner's {vocab}")
    total = (freeze_epochs + 1 + epochs) * len(learn.dls.train)
    cbs = [ReportProgress(progress, total, f"fine-tuning {Path(out).stem}")] if progress else []
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(1, base_lr=lr, freeze_epochs=freeze_epochs, cbs=cbs)
        learn.unfreeze()
        learn.fit_one_cycle(epochs, lr_max=slice(lr / 100, lr), cbs=cbs)
    return export_for_inference(learn, data_dir, size, out, bs)
