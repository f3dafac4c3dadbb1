"""What the model sees: the learner's own Resize and Normalize, applied as ``learn.predict`` applies them.

The parameters are read once from the pickled DataLoaders (or from a safetensors model's JSON), and the
transforms themselves are fastai's: ``Resize`` at ``split_idx=1`` (inference: centre crop), ``ToTensor``,
``IntToFloatTensor`` and ``Normalize``. The crop box is worked out with the same arithmetic as
``fastai.vision.augment.Resize.encodes`` so that a heatmap can be put back where the model looked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ModelLoadError
from ..imaging.geometry import Box



@dataclass(frozen=True)
class Preprocessing:
    """Inference-time item and batch transforms of a fastai vision learner.

    Attributes:
        size: ``(width, height)`` the model is fed, as fastai's ``Resize.size`` stores it.
        method: ``"crop"``, ``"squish"`` or ``"pad"`` (fastai ``ResizeMethod``).
        pad_mode: ``"reflection"``, ``"zeros"`` or ``"border"`` (fastai ``PadMode``).
        mean, std: per-channel Normalize statistics on the [0, 1] scale.
    """

    size: tuple[int, int]
    method: str = "crop"
    pad_mode: str = "reflection"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @classmethod
    def from_learner(cls, learn: Any) -> "Preprocessing":
        """Read Resize and Normalize from a learner's DataLoaders.

        Raises:
            ModelLoadError: the learner has no Resize item transform or no Normalize batch transform.
        """
        from fastai.vision.augment import Resize
        from fastai.data.transforms import Normalize

        dls = learn.dls
        item_tfms = list(getattr(dls, "after_item", getattr(dls.train, "after_item", [])).fs)
        batch_tfms = list(getattr(dls, "after_batch", getattr(dls.train, "after_batch", [])).fs)
        resize = next((t for t in item_tfms if isinstance(t, Resize)), None)
        norm = next((t for t in batch_tfms if isinstance(t, Normalize)), None)
        if resize is None:
            names = ", ".join(type(t).__name__ for t in item_tfms) or "none"
            raise ModelLoadError(f"the learner has no Resize item transform (it has: {names}); cannot preprocess")
        if norm is None:
            raise ModelLoadError("the learner has no Normalize batch transform; cannot preprocess faithfully")
        flat = lambda t: tuple(float(v) for v in torch.as_tensor(t).flatten().tolist())
        return cls(
            size=(int(resize.size[0]), int(resize.size[1])),
            method=str(resize.method),
            pad_mode=str(resize.pad_mode),
            mean=flat(norm.mean),
            std=flat(norm.std),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(tuple(d["size"]), d["method"], d["pad_mode"], tuple(d["mean"]), tuple(d["std"]))

    @cached_property
    def _pipelines(self):
        from fastai.data.transforms import IntToFloatTensor, Normalize, ToTensor
        from fastai.vision.augment import Resize
        from fasttransform import Pipeline

        # fastai stores size as (w, h) but takes (h, w) in its constructor.
        resize = Resize((self.size[1], self.size[0]), method=self.method, pad_mode=self.pad_mode)
        item = Pipeline([resize, ToTensor()], split_idx=1)
        batch = Pipeline([IntToFloatTensor(), Normalize.from_stats(self.mean, self.std, cuda=False)], split_idx=1)
        return item, batch

    def crop_box(self, width: int, height: int) -> Box:
        """The region of an upright ``width x height`` photo that ends up in the model's input.

        Returns:
            ``(x0, y0, x1, y1)``; with ``method="pad"`` it extends past the photo's edges.
        """
        if self.method == "squish":
            return (0, 0, width, height)
        sw, sh = self.size
        ratio_w, ratio_h = width / sw, height / sh
        pad = self.method == "pad"
        m = ratio_w if ((ratio_w > ratio_h) if pad else (ratio_w < ratio_h)) else ratio_h
        cw, ch = int(m * sw), int(m * sh)
        x0, y0 = int(0.5 * (width - cw)), int(0.5 * (height - ch))
        return (x0, y0, x0 + cw, y0 + ch)

    def item(self, pixels: np.ndarray) -> torch.Tensor:
        """One photo (RGB uint8 ``(H, W, 3)``) to the uint8 tensor ``(3, h, w)`` fastai's item pipeline makes."""
        from fastai.vision.core import PILImage

        item_pipe, _ = self._pipelines
        return item_pipe(PILImage.create(pixels)).as_subclass(torch.Tensor)

    def batch(self, items: Sequence[torch.Tensor], device: torch.device | str = "cpu") -> torch.Tensor:
        """Stack item tensors and normalise: ``(B, 3, h, w)`` float32 on ``device``, a plain ``torch.Tensor``."""
        from fastai.torch_core import TensorImage

        _, batch_pipe = self._pipelines
        x = TensorImage(torch.stack(list(items)))
        return batch_pipe(x).as_subclass(torch.Tensor).to(device)
