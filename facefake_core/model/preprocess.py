"""What the model sees: the learner's own inference transforms, applied as ``learn.predict`` applies them.

The parameters are read once from the pickled DataLoaders (or from a safetensors model's JSON), and the
transforms themselves are fastai's, run at ``split_idx=1`` (inference):

* item: ``Resize`` (centre crop, squish or pad) or ``RandomResizedCrop`` (squish to ``size`` plus a margin of
  ``val_xtra``, then a centre crop: fastai's validation crop), then ``ToTensor``;
* batch: ``IntToFloatTensor``; the geometric batch transforms in the learner's order (:class:`BatchStep`:
  ``aug_transforms``' affine transforms, identity at inference but resizing when given ``size``, and
  ``RandomResizedCropGPU``'s centre crop); ``Normalize`` when the learner has one (none is applied otherwise,
  as fastai applies none).

The crop box is worked out with fastai's own arithmetic (the transforms' ``before_call`` at ``split_idx=1``) so
that a heatmap can be put back where the model looked.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ModelLoadError
from ..imaging.geometry import Box

#: Batch transforms that do nothing at inference, or whose effect :class:`Preprocessing` reproduces itself.
_PLAIN_BATCH = ("IntToFloatTensor", "Normalize")


@dataclass(frozen=True)
class BatchStep:
    """A geometric batch transform as fastai runs it at inference.

    Attributes:
        kind: ``"affine"`` (``AffineCoordTfm`` and its ``aug_transforms`` subclasses: the identity warp,
            resampled to ``size`` when set) or ``"gpu_crop"`` (``RandomResizedCropGPU``: a centre crop of
            ``valid_scale`` within ``ratio``, resampled to ``size``).
        size: ``(h, w)`` output, or ``None`` to keep the input's size (``affine`` only).
        mode, pad_mode, align_corners: ``F.grid_sample`` settings, as the transform stores them.
        ratio, valid_scale: ``RandomResizedCropGPU``'s crop shape.
    """

    kind: str
    size: tuple[int, int] | None = None
    mode: str = "bilinear"
    pad_mode: str = "reflection"
    align_corners: bool | None = True
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    valid_scale: float = 1.0

    @classmethod
    def of(cls, tfm: Any) -> "BatchStep | None":
        """The step for one of the learner's batch transforms; ``None`` for those with no geometry at inference.

        Raises:
            ModelLoadError: a transform that runs at inference and that this module cannot reproduce.
        """
        from fastai.vision.augment import AffineCoordTfm, RandomResizedCropGPU

        name = type(tfm).__name__
        if getattr(tfm, "split_idx", None) == 0 or name in _PLAIN_BATCH:
            return None  # training only (LightingTfm ...), or applied by Preprocessing itself
        hw = lambda s: None if s is None else (int(s), int(s)) if isinstance(s, int) else (int(s[0]), int(s[1]))
        if isinstance(tfm, RandomResizedCropGPU):
            return cls("gpu_crop", hw(tfm.size), str(tfm.mode), ratio=tuple(map(float, tfm.ratio)),
                       valid_scale=float(tfm.valid_scale))
        if isinstance(tfm, AffineCoordTfm):
            return cls("affine", hw(tfm.size), str(tfm.mode), str(tfm.pad_mode), tfm.align_corners)
        raise ModelLoadError(f"the learner's batch transform {name} runs at inference and facefake cannot "
                             "reproduce it; re-export the learner without it to explain it here")

    def fastai(self) -> Any:
        """The fastai transform that does this step."""
        from fastai.vision.augment import AffineCoordTfm, RandomResizedCropGPU

        if self.kind == "gpu_crop":
            return RandomResizedCropGPU(self.size, ratio=self.ratio, mode=self.mode, valid_scale=self.valid_scale)
        return AffineCoordTfm(size=self.size, mode=self.mode, pad_mode=self.pad_mode,
                              align_corners=self.align_corners)

    def crop(self, h: int, w: int) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
        """The region ``(y0, x0, y1, x1)`` of an ``h x w`` input this step keeps, and its output ``(h, w)``."""
        if self.kind == "affine":
            return (0, 0, h, w), self.size or (h, w)
        tfm = self.fastai()
        tfm.before_call(torch.empty(1, 3, h, w), split_idx=1)  # fastai's own validation arithmetic
        (y0, x0), (ch, cw) = tfm.tl, tfm.cp_size
        return (y0, x0, y0 + ch, x0 + cw), self.size


@dataclass(frozen=True)
class Preprocessing:
    """Inference-time item and batch transforms of a fastai vision learner.

    Attributes:
        size: ``(width, height)`` the item transform produces, as fastai's ``Resize.size`` stores it.
        method: ``"crop"``, ``"squish"`` or ``"pad"`` (fastai ``ResizeMethod``), or ``"random_resized_crop"``.
        pad_mode: ``"reflection"``, ``"zeros"`` or ``"border"`` (fastai ``PadMode``).
        mean, std: per-channel Normalize statistics on the [0, 1] scale; ``None`` when the learner has no
            Normalize (trained from scratch, ``vision_learner(pretrained=False)``).
        val_xtra: ``RandomResizedCrop``'s validation margin (a fraction of the size).
        batch_steps: geometric batch transforms, in the order fastai runs them.
    """

    size: tuple[int, int]
    method: str = "crop"
    pad_mode: str = "reflection"
    mean: tuple[float, float, float] | None = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] | None = (0.229, 0.224, 0.225)
    val_xtra: float = 0.14
    batch_steps: tuple[BatchStep, ...] = ()

    @classmethod
    def from_learner(cls, learn: Any) -> "Preprocessing":
        """Read the inference transforms from a learner's DataLoaders.

        Raises:
            ModelLoadError: the learner has neither Resize nor RandomResizedCrop among its item transforms, or
                a transform runs at inference that cannot be reproduced (named in the message).
        """
        from fastai.data.transforms import Normalize
        from fastai.vision.augment import RandomResizedCrop, Resize

        dls = learn.dls
        item_tfms = list(getattr(dls, "after_item", getattr(dls.train, "after_item", [])).fs)
        batch_tfms = list(getattr(dls, "after_batch", getattr(dls.train, "after_batch", [])).fs)
        sizing = [t for t in item_tfms if isinstance(t, (Resize, RandomResizedCrop))]
        others = [type(t).__name__ for t in item_tfms if t not in sizing and type(t).__name__ != "ToTensor"
                  and getattr(t, "split_idx", None) != 0]
        if len(sizing) != 1 or others:
            names = ", ".join(type(t).__name__ for t in item_tfms) or "none"
            raise ModelLoadError(f"the learner's item transforms ({names}) are not one Resize or RandomResizedCrop "
                                 "and ToTensor; facefake cannot reproduce its inference preprocessing (re-export it "
                                 "with one of those to explain it here)")
        item = sizing[0]
        norm = next((t for t in batch_tfms if isinstance(t, Normalize)), None)
        flat = lambda t: tuple(float(v) for v in torch.as_tensor(t).flatten().tolist())
        rrc = isinstance(item, RandomResizedCrop)
        return cls(
            size=(int(item.size[0]), int(item.size[1])),
            method="random_resized_crop" if rrc else str(item.method),
            pad_mode="reflection" if rrc else str(item.pad_mode),
            mean=None if norm is None else flat(norm.mean),
            std=None if norm is None else flat(norm.std),
            val_xtra=float(item.val_xtra) if rrc else cls.val_xtra,
            batch_steps=tuple(s for s in map(BatchStep.of, batch_tfms) if s is not None),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        opt = lambda v: None if v is None else tuple(v)
        steps = tuple(BatchStep(**{**s, "size": opt(s.get("size")), "ratio": tuple(s.get("ratio", (3 / 4, 4 / 3)))})
                      for s in d.get("batch_steps", ()))
        return cls(tuple(d["size"]), d["method"], d["pad_mode"], opt(d["mean"]), opt(d["std"]),
                   float(d.get("val_xtra", cls.val_xtra)), steps)

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` of the network's input, after the batch transforms."""
        h, w = self.size[1], self.size[0]
        for step in self.batch_steps:
            _, (h, w) = step.crop(h, w)
        return (w, h)

    def _item_tfm(self) -> Any:
        from fastai.vision.augment import RandomResizedCrop, Resize

        hw = (self.size[1], self.size[0])  # fastai stores size as (w, h) but takes (h, w) in its constructor
        if self.method == "random_resized_crop":
            return RandomResizedCrop(hw, val_xtra=self.val_xtra)
        return Resize(hw, method=self.method, pad_mode=self.pad_mode)

    @cached_property
    def _pipelines(self):
        from fastai.data.transforms import IntToFloatTensor, Normalize, ToTensor
        from fasttransform import Pipeline

        item = Pipeline([self._item_tfm(), ToTensor()], split_idx=1)
        norm = [] if self.mean is None else [Normalize.from_stats(self.mean, self.std, cuda=False)]
        batch = Pipeline([IntToFloatTensor(), *(s.fastai() for s in self.batch_steps), *norm], split_idx=1)
        return item, batch

    def _item_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        sw, sh = self.size
        if self.method == "squish":
            return (0, 0, width, height)
        if self.method == "random_resized_crop":  # squish to size + margin, then fastai's centre crop_pad
            xtra = math.ceil(max(sw, sh) * self.val_xtra / 8) * 8  # RandomResizedCrop.before_call, split_idx=1
            fw, fh = sw + xtra, sh + xtra
            x0, y0 = (fw - sw) // 2, (fh - sh) // 2
            return (x0 * width / fw, y0 * height / fh, (x0 + sw) * width / fw, (y0 + sh) * height / fh)
        ratio_w, ratio_h = width / sw, height / sh
        pad = self.method == "pad"
        m = ratio_w if ((ratio_w > ratio_h) if pad else (ratio_w < ratio_h)) else ratio_h
        cw, ch = int(m * sw), int(m * sh)
        x0, y0 = int(0.5 * (width - cw)), int(0.5 * (height - ch))
        return (x0, y0, x0 + cw, y0 + ch)

    def crop_box(self, width: int, height: int) -> Box:
        """The region of an upright ``width x height`` photo that ends up in the model's input.

        Returns:
            ``(x0, y0, x1, y1)``; with ``method="pad"`` it extends past the photo's edges.
        """
        x0, y0, x1, y1 = self._item_box(width, height)
        h, w = self.size[1], self.size[0]
        for step in self.batch_steps:  # each step keeps a region of its input, in that input's pixels
            (cy0, cx0, cy1, cx1), (h2, w2) = step.crop(h, w)
            sx, sy = (x1 - x0) / w, (y1 - y0) / h
            x0, y0, x1, y1 = x0 + cx0 * sx, y0 + cy0 * sy, x0 + cx1 * sx, y0 + cy1 * sy
            h, w = h2, w2
        return tuple(int(round(v)) for v in (x0, y0, x1, y1))  # type: ignore[return-value]

    def _pil_steps(self, width: int, height: int) -> tuple[Box, tuple[int, int], Box | None] | None:
        """What fastai's item transform does to a ``width x height`` photo when it pads nothing, as three PIL steps:
        ``(crop box, resize to (w, h), final crop box or None)``; ``None`` when it pads (then only fastai's own code
        is used). fastai's ``crop_pad`` crops, pads (here by zero pixels, which changes nothing) and resizes
        bilinearly; ``RandomResizedCrop`` at inference squishes to the size plus its margin and crops the centre."""
        w, h = self.size
        if self.method == "random_resized_crop":
            xtra = math.ceil(max(w, h) * self.val_xtra / 8) * 8  # RandomResizedCrop.before_call, split_idx=1
            fw, fh = w + xtra, h + xtra
            x0, y0 = (fw - w) // 2, (fh - h) // 2
            return (0, 0, width, height), (fw, fh), None if xtra == 0 else (x0, y0, x0 + w, y0 + h)
        box = tuple(int(v) for v in self._item_box(width, height))
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height or x1 <= x0 or y1 <= y0:
            return None
        return box, (w, h), None  # type: ignore[return-value]

    def item(self, pixels: np.ndarray) -> torch.Tensor:
        """One photo (RGB uint8 ``(H, W, 3)``) to the uint8 tensor ``(3, h, w)`` fastai's item pipeline makes.

        Without padding, the same PIL calls fastai makes, without its dispatch around them (about a third of the
        time); bit for bit the same tensor (``tests/model/test_preprocess_fast.py`` compares them on many shapes)."""
        from PIL import Image

        steps = self._pil_steps(pixels.shape[1], pixels.shape[0])
        if steps is None:
            return self._fastai_item(pixels)
        box, size, final = steps
        im = Image.fromarray(pixels).crop(box).resize(size, Image.BILINEAR)
        if final is not None:
            im = im.crop(final)
        return torch.from_numpy(np.array(im)).permute(2, 0, 1)

    def _fastai_item(self, pixels: np.ndarray) -> torch.Tensor:
        """:meth:`item` through fastai's own item pipeline."""
        from fastai.vision.core import PILImage

        item_pipe, _ = self._pipelines
        return item_pipe(PILImage.create(pixels)).as_subclass(torch.Tensor)

    def batch(self, items: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> torch.Tensor:
        """Stack item tensors and run the batch transforms: ``(B, 3, h, w)`` float32 on ``device``, a plain
        ``torch.Tensor``. To a CUDA device the batch goes from pinned memory without blocking the caller (the copy
        is ordered before any kernel that reads it)."""
        x = self._batch(torch.stack(list(items)))
        if torch.device(device).type == "cuda":
            return x.pin_memory().to(device, non_blocking=True)
        return x.to(device)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        """The batch transforms on stacked uint8 items. With no geometric step, fastai's ``IntToFloatTensor`` and
        ``Normalize`` are two tensor operations each (``x.float() / 255``, ``(x - mean) / std``), done here in the
        same order and precision without the pipeline's dispatch; otherwise fastai's own pipeline runs them."""
        if self.batch_steps:
            from fastai.torch_core import TensorImage

            _, batch_pipe = self._pipelines
            return batch_pipe(TensorImage(x)).as_subclass(torch.Tensor)
        x = x.float().div_(255.0)
        if self.mean is None:
            return x
        mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (self.mean, self.std))
        return (x - mean) / std
