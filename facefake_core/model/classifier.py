"""A loaded classifier: :class:`Model` wraps the network of a fastai vision learner (``Sequential(body, head)``),
its vocab and its :class:`~facefake_core.model.preprocess.Preprocessing`, and predicts and explains photos.

It keeps no per-call state, so one instance can serve many threads: every CAM call hooks a fresh wrapper around
the shared modules, never the modules themselves. :func:`build_model` is the one place a :class:`Model` is
assembled, whatever file it came from.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..config import CONFIG
from ..errors import ModelLoadError
from ..imaging.geometry import map_to_photo
from ..imaging.photo import ImageInput, Photo, load_photo
from .cam import MARGIN, Margin, SplitModel, forward_features, forward_only, predict_and_cam
from .network import describe_arch, fold_batchnorm, layer_names, memory_format
from .precision import variant_suffix, wrap_net, wrap_split, wrapper
from .preprocess import Preprocessing
from .results import Explanation, ModelInfo, Prediction


class Model:
    """A fastai vision classifier ready to predict and explain.

    Args:
        net: the learner's model (``Sequential(body, head)`` for ``vision_learner``). Kept as ``source_net``
            (what :mod:`~facefake_core.convert` writes); ``net`` is the copy that runs: float32 (a ``.to_fp16()``
            or half-precision learner runs in fp32), BatchNorms folded (:func:`fold_batchnorm`), in eval mode,
            gradients off for its parameters, on the device.
        vocab: class names in output order.
        prep: inference preprocessing.
        info: the model card.
    """

    def __init__(self, net: nn.Module, vocab: Sequence[str], prep: Preprocessing, info: ModelInfo) -> None:
        self.device = torch.device(info.device)
        self.memory_format = memory_format(self.device)
        self.source_net = net.float().eval().requires_grad_(False)
        self.net = fold_batchnorm(net).to(self.device, memory_format=self.memory_format).requires_grad_(False)
        self._splits: dict[str, SplitModel] = {}  # layer name -> cut network; built once (fx tracing is slow)
        self.vocab = tuple(str(v) for v in vocab)
        self.prep = prep
        self.info = info
        self.layers = layer_names(net)
        self._fp32_net = self.net  # what splits are cut from; a variant wraps the halves
        self._wrap: Callable[[nn.Module], nn.Module] | None = None

    def variant(self, precision: str = "fp32", compile: bool = False) -> "Model":
        """This model run in another precision (``fp16``/``bf16`` autocast) and/or ``torch.compile``'d: opt-in
        speed-ups that change the numbers (see :mod:`facefake_core.model.precision`). The modules are shared, not
        copied. The variant's card says how it runs, and its ``sha256`` gets a suffix (``+bf16``), so its results
        are stored apart from the fp32 model's. ``variant()`` with the defaults is this model.

        Raises:
            ValueError: an unknown precision.
        """
        wrap = wrapper(self.device, precision, compile)
        if precision == "fp32" and not compile:
            return self
        out = copy.copy(self)
        out._wrap, out._splits = wrap, {}
        out.net = wrap_net(self._fp32_net, wrap)
        out.info = dataclasses.replace(self.info, sha256=self.info.sha256 + variant_suffix(precision, compile),
                                       precision=precision, compiled=compile)
        return out

    # -- inputs -------------------------------------------------------------------------------------------
    def prepare(self, photos: Sequence[Photo]) -> torch.Tensor:
        """``(B, 3, h, w)`` normalised input for photos, on the model's device."""
        return self.batch([self.prep.item(p.pixels) for p in photos])

    def batch(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        """Item tensors (:meth:`Preprocessing.item`) to the normalised input batch, in the network's memory format."""
        return self.prep.batch(items, self.device).contiguous(memory_format=self.memory_format)

    def target_index(self, target: str | int | None) -> int | Margin | None:
        """The CAM target: a class index, a :class:`~facefake_core.model.cam.Margin` for ``"margin"`` (the positive
        class's logit minus the other's; two-class models only), or ``None`` for the predicted class."""
        if target is None or target == "":
            return None
        if isinstance(target, Margin):
            return target
        if target == MARGIN:
            if len(self.vocab) != 2:
                raise ValueError("the margin target needs a two-class model")
            pos = next((i for i, v in enumerate(self.vocab) if v.lower() == "fake"), 0)
            return Margin(pos, 1 - pos)
        if isinstance(target, (int, np.integer)):
            if not 0 <= int(target) < len(self.vocab):
                raise ValueError(f"target index {target} is out of range for classes {list(self.vocab)}")
            return int(target)
        low = [v.lower() for v in self.vocab]
        if str(target).lower() not in low:
            raise ValueError(f"unknown target class {target!r}; choose one of {', '.join(self.vocab)}")
        return low.index(str(target).lower())

    def target_label(self, spec: int | Margin) -> str:
        """How a CAM target is named: the class, or ``"fake − real"`` for the margin."""
        return f"{self.vocab[spec.pos]} − {self.vocab[spec.neg]}" if isinstance(spec, Margin) else self.vocab[int(spec)]

    def split(self, layer: str | None = None) -> SplitModel:
        """The running network cut after ``layer`` (a name of ``self.layers``; default: the model's CAM layer)."""
        name = layer or self.info.target_layer
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; choose one of {', '.join(self.layers)}")
        if name not in self._splits:  # a race builds it twice, harmlessly: both cuts share the same modules
            split = SplitModel.at(self._fp32_net, self.layers[name])
            self._splits[name] = split if self._wrap is None else wrap_split(split, self._wrap)
        return self._splits[name]

    # -- calls --------------------------------------------------------------------------------------------
    def _prediction(self, photo: Photo, probs: np.ndarray) -> Prediction:
        return Prediction(photo.name, self.vocab[int(np.argmax(probs))],
                          {v: float(p) for v, p in zip(self.vocab, probs)}, photo.notes)

    def predict(self, image: ImageInput) -> Prediction:
        """Class and probabilities of one image (path, bytes, PIL image or RGB uint8 array)."""
        return self.predict_batch([load_photo(image)])[0]

    def predict_batch(self, photos: Sequence[Photo]) -> list[Prediction]:
        probs = forward_only(self.net, self.prepare(photos))
        return [self._prediction(ph, p) for ph, p in zip(photos, probs)]

    def features_batch(self, photos: Sequence[Photo]) -> tuple[list[Prediction], np.ndarray | None]:
        """Predictions and feature vectors from one pass: ``(B, D)`` float32, the input of the head's final Linear
        (what the evaluation stores), or ``None`` when the head does not end in a Linear."""
        probs, feats = forward_features(self.net, self.prepare(photos))
        return [self._prediction(ph, p) for ph, p in zip(photos, probs)], feats

    def explain(self, image: ImageInput, method: str = CONFIG.cam_method, target: str | int | None = None,
                layer: str | None = None, vmax: float | None = None) -> Explanation:
        """Prediction and CAM heatmap of one image from one forward pass.

        Args:
            image: path, bytes, PIL image or RGB uint8 array.
            method: CAM method name (see :data:`facefake_core.explain.CAM_METHODS`).
            target: class to explain (name or index); ``None`` explains the predicted class.
            layer: CAM layer name (``layer1``..``layer4`` for ResNets); ``None`` is the model's default.
            vmax: shared colour scale for the heatmap; ``None`` normalises this image alone.
        """
        return self.explain_batch([load_photo(image)], method, target, layer, vmax)[0]

    def explain_batch(self, photos: Sequence[Photo], method: str = CONFIG.cam_method,
                      target: str | int | None = None, layer: str | None = None,
                      vmax: float | None = None) -> list[Explanation]:
        layer = layer or self.info.target_layer
        spec = self.target_index(target)
        res = predict_and_cam(self.split(layer), self.prepare(photos), method, spec)
        out = []
        for ph, probs, raw, t in zip(photos, res.probs, res.raw_cam, res.targets):
            box = self.prep.crop_box(ph.pixels.shape[1], ph.pixels.shape[0])
            pred = self._prediction(ph, probs)
            out.append(Explanation(
                pred.path, pred.label, pred.probs, pred.notes,
                heatmap=map_to_photo(raw, box, ph.pixels.shape[:2], vmax), raw_cam=raw, crop_box=box,
                method=method, target=self.target_label(spec if isinstance(spec, Margin) else int(t)), layer=layer,
                photo=ph.pixels))
        return out


def build_model(net, vocab, prep: Preprocessing, *, sha256: str, source: str, path: str, load_method: str,
                device: str, stubbed=(), remapped=(), notes=(), arch: object = None) -> Model:
    """Wrap a network with its card; the one place a :class:`Model` is assembled.

    ``arch`` is the learner's ``arch`` (a function or a timm name) when it has one; the card's CAM layer is the
    last of :func:`layer_names`, read from the network's structure.
    """
    if not isinstance(net, nn.Module):
        raise ModelLoadError(f"{Path(path).name}: the learner's model is a {type(net).__name__}, not a torch module")
    try:
        layers = layer_names(net)
        arch = describe_arch(net, arch)
    except (TypeError, IndexError, AttributeError, ValueError, KeyError):
        raise ModelLoadError(f"{Path(path).name}: not a fastai vision model (no convolutional body)") from None
    if not layers:
        raise ModelLoadError(f"{Path(path).name}: the model's body has no convolutional layer to explain")
    info = ModelInfo(arch=arch, vocab=tuple(map(str, vocab)), input_size=prep.input_size, resize_method=prep.method,
                     pad_mode=prep.pad_mode, sha256=sha256, source=source, path=path,
                     target_layer=list(layers)[-1], layers=tuple(layers), load_method=load_method, device=device,
                     stubbed=tuple(stubbed), remapped=tuple(remapped), notes=tuple(notes))
    return Model(net, vocab, prep, info)
