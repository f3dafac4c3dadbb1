"""A loaded classifier: what it is (:class:`ModelInfo`) and what it does (:class:`Model`).

A :class:`Model` wraps the network of a fastai vision learner (``Sequential(body, head)``), its vocab and its
:class:`~facefake_core.preprocess.Preprocessing`. It keeps no per-call state, so one instance can serve many
threads: every CAM call hooks a fresh wrapper around the shared modules, never the modules themselves.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from typing import Sequence

import cv2
import numpy as np
import torch
from torch import nn
from pytorch_grad_cam.utils.image import scale_cam_image

from .config import CONFIG
from .explain import SplitModel, forward_only, predict_and_cam
from .images import ImageInput, Photo, load_photo
from .preprocess import Box, Preprocessing

_log = logging.getLogger(__name__)

_RESNET_DEPTHS = {
    ("BasicBlock", (2, 2, 2, 2)): "resnet18",
    ("BasicBlock", (3, 4, 6, 3)): "resnet34",
    ("Bottleneck", (3, 4, 6, 3)): "resnet50",
    ("Bottleneck", (3, 4, 23, 3)): "resnet101",
    ("Bottleneck", (3, 8, 36, 3)): "resnet152",
}


@dataclass(frozen=True)
class ModelInfo:
    """Everything the model card shows. ``to_dict()`` is what ``facefake info --json`` prints."""

    arch: str
    vocab: tuple[str, ...]
    input_size: tuple[int, int]
    resize_method: str
    pad_mode: str
    sha256: str
    source: str
    path: str
    target_layer: str
    layers: tuple[str, ...]
    load_method: str
    device: str
    stubbed: tuple[str, ...] = ()
    remapped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Prediction:
    """A class decision. ``probs`` maps every vocab class to its softmax probability."""

    path: str
    label: str
    probs: dict[str, float]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"path": self.path, "label": self.label, "probs": self.probs}


@dataclass(frozen=True)
class Explanation(Prediction):
    """A prediction with its CAM.

    Attributes:
        heatmap: float32 ``(H, W)`` in [0, 1] on the upright photo; zero outside the crop box.
        raw_cam: float32 ``(h, w)`` un-normalised CAM on the target layer's grid (shareable scale).
        crop_box: ``(x0, y0, x1, y1)`` region of the photo the model saw.
        photo: the upright RGB uint8 photo the heatmap belongs to.
    """

    heatmap: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    raw_cam: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    crop_box: Box = (0, 0, 0, 0)
    method: str = "gradcam"
    target: str = ""
    layer: str = ""
    photo: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "method": self.method, "target": self.target, "layer": self.layer,
                "crop_box": list(self.crop_box)}


def describe_arch(net: nn.Module) -> str:
    """Name a fastai vision network's architecture from its body (``resnet50`` ...), else its block type."""
    body = net[0]
    blocks = [m for m in body if isinstance(m, nn.Sequential) and len(m) and type(m[0]).__name__ in
              ("BasicBlock", "Bottleneck")]
    if len(blocks) == 4:
        key = (type(blocks[0][0]).__name__, tuple(len(b) for b in blocks))
        if key in _RESNET_DEPTHS:
            return _RESNET_DEPTHS[key]
    return f"{type(body[-1]).__name__}-body"


def layer_names(net: nn.Module) -> dict[str, int]:
    """CAM-able layers by name: ``layer1``..``layer4`` for torchvision ResNet bodies, else ``body.<i>``."""
    body = list(net[0])
    if len(body) == 8 and all(isinstance(m, nn.Sequential) for m in body[4:]):
        return {f"layer{i - 3}": i for i in range(4, 8)}
    return {f"body.{i}": i for i, m in enumerate(body) if any(p.dim() == 4 for p in m.parameters())}


def pick_device(override: str | None = None) -> torch.device:
    """CUDA, then Apple's MPS, then the CPU, unless ``override`` (or ``FACEFAKE_DEVICE``) names one."""
    import os

    name = override or os.environ.get("FACEFAKE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def map_to_photo(raw_cam: np.ndarray, crop_box: Box, photo_hw: tuple[int, int], vmax: float | None = None) -> np.ndarray:
    """Put a CAM grid back on the photo through the crop the model saw.

    Args:
        raw_cam: float32 ``(h, w)`` non-negative CAM on the layer grid.
        crop_box: ``(x0, y0, x1, y1)`` in photo pixels (may extend past the photo for pad resizing).
        photo_hw: ``(H, W)`` of the upright photo.
        vmax: shared scale; ``None`` min-max normalises this map alone (pytorch-grad-cam's ``scale_cam_image``).

    Returns:
        float32 ``(H, W)`` in [0, 1], zero outside the crop box.
    """
    x0, y0, x1, y1 = crop_box
    cw, ch = x1 - x0, y1 - y0
    if vmax is None:
        # As pytorch-grad-cam does: scale, resize, scale again (so the resized map still spans [0, 1]).
        up = scale_cam_image(scale_cam_image(raw_cam[None], (cw, ch)))[0]
    else:
        up = cv2.resize(np.clip(raw_cam / max(vmax, 1e-12), 0, 1).astype(np.float32), (cw, ch))
    H, W = photo_hw
    out = np.zeros((H, W), np.float32)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    out[sy0:sy1, sx0:sx1] = up[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
    return np.clip(out, 0, 1)


def memory_format(device: torch.device) -> torch.memory_format:
    """``channels_last`` on the CPU, where it measured 13-26% faster on this project's 2-core machine for ResNet50 at
    256 px, batch 1 to 8, with probabilities within 2e-7 (``benchmarks/ceiling.py``); the default layout elsewhere,
    where it was not measured."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (a fastai ``Sequential(body, head)``) with each BatchNorm of the body folded into the
    convolution that feeds it.

    In eval mode a BatchNorm is a fixed per-channel scale and shift, which the convolution's weights and bias
    absorb; torch.fx's ``fuse`` finds the conv -> BatchNorm pairs in each block and rewrites them. Outputs agree
    to float rounding (ResNet50: probabilities within 1e-9 of the unfolded network, layer4 activations within 4e-6
    relative, measured), and the forward pass measured 5-12% faster at batch 1-2 on the project's 2-core CPU
    (``benchmarks/ceiling.py``). The body's children keep their indices, so CAM layers are unchanged; a child
    torch.fx cannot trace is kept as is, and a network not laid out as ``Sequential(body, head)`` is returned as is.
    """
    from torch.fx.experimental.optimization import fuse
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if not (isinstance(net, nn.Sequential) and isinstance(net[0], nn.Sequential)):
        return net  # not a fastai vision learner's layout: run it as it is
    net = copy.deepcopy(net).eval()
    body = net[0]
    kids = list(body)
    for i, m in enumerate(kids):
        if isinstance(m, nn.BatchNorm2d) and i and isinstance(kids[i - 1], nn.Conv2d):  # the stem's conv, bn
            body[i - 1], body[i] = fuse_conv_bn_eval(kids[i - 1], m), nn.Identity()
        elif next(m.children(), None) is not None:
            try:
                body[i] = fuse(m, inplace=True)
            except Exception as err:  # noqa: BLE001 - any tracing failure leaves the block unfolded
                _log.info("body[%d] (%s) left unfolded: %s", i, type(m).__name__, err)
    return net


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass when evaluating: 4 on the CPU (ResNet50's throughput falls at larger batches there,
    measured by ``benchmarks/ceiling.py``), 32 on an accelerator."""
    return 4 if device.type == "cpu" else 32


class Model:
    """A fastai vision classifier ready to predict and explain.

    Args:
        net: the learner's ``Sequential(body, head)``. Kept as ``source_net`` (what :mod:`~facefake_core.convert`
            writes); ``net`` is the copy that runs: BatchNorms folded (:func:`fold_batchnorm`), in eval mode,
            gradients off for its parameters, on the device.
        vocab: class names in output order.
        prep: inference preprocessing.
        info: the model card.
    """

    def __init__(self, net: nn.Module, vocab: Sequence[str], prep: Preprocessing, info: ModelInfo) -> None:
        self.device = torch.device(info.device)
        self.memory_format = memory_format(self.device)
        self.source_net = net.eval().requires_grad_(False)
        self.net = fold_batchnorm(net).to(self.device, memory_format=self.memory_format).requires_grad_(False)
        self.vocab = tuple(str(v) for v in vocab)
        self.prep = prep
        self.info = info
        self.layers = layer_names(net)

    # -- inputs -------------------------------------------------------------------------------------------
    def prepare(self, photos: Sequence[Photo]) -> torch.Tensor:
        """``(B, 3, h, w)`` normalised input for photos, on the model's device."""
        return self.batch([self.prep.item(p.pixels) for p in photos])

    def batch(self, items: Sequence[torch.Tensor]) -> torch.Tensor:
        """Item tensors (:meth:`Preprocessing.item`) to the normalised input batch, in the network's memory format."""
        return self.prep.batch(items, self.device).contiguous(memory_format=self.memory_format)

    def target_index(self, target: str | int | None) -> int | None:
        if target is None or target == "":
            return None
        if isinstance(target, (int, np.integer)):
            if not 0 <= int(target) < len(self.vocab):
                raise ValueError(f"target index {target} is out of range for classes {list(self.vocab)}")
            return int(target)
        low = [v.lower() for v in self.vocab]
        if str(target).lower() not in low:
            raise ValueError(f"unknown target class {target!r}; choose one of {', '.join(self.vocab)}")
        return low.index(str(target).lower())

    def split(self, layer: str | None = None) -> SplitModel:
        name = layer or self.info.target_layer
        if name not in self.layers:
            raise ValueError(f"unknown layer {name!r}; choose one of {', '.join(self.layers)}")
        return SplitModel.at(self.net, self.layers[name])

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
        res = predict_and_cam(self.split(layer), self.prepare(photos), method, self.target_index(target))
        out = []
        for ph, probs, raw, t in zip(photos, res.probs, res.raw_cam, res.targets):
            box = self.prep.crop_box(ph.pixels.shape[1], ph.pixels.shape[0])
            pred = self._prediction(ph, probs)
            out.append(Explanation(
                pred.path, pred.label, pred.probs, pred.notes,
                heatmap=map_to_photo(raw, box, ph.pixels.shape[:2], vmax), raw_cam=raw, crop_box=box,
                method=method, target=self.vocab[int(t)], layer=layer, photo=ph.pixels))
        return out
