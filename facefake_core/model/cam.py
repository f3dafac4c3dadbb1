"""Prediction and CAM from one pass, with pytorch-grad-cam's own methods.

pytorch-grad-cam hooks a target layer of the model it is given and backpropagates from the output through the
whole network. We give it less: the network is split at the target layer, the front half runs once under
``torch.no_grad``, and the CAM method is handed only the back half (an identity "tap" standing in for the target
layer, then the remaining blocks and the head). Its input is the target layer's activation, so the forward pass
that yields the probabilities is the one the CAM's gradients come from, and backpropagation stops at the target
layer. The activations and gradients at the tap are exactly those at the target layer of the full network, so the
map is the same (``tests/test_explain.py`` checks this against pytorch-grad-cam on the full network).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from pytorch_grad_cam import (
    AblationCAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from pytorch_grad_cam.random_cam import RandomCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from .network import split_at

#: CAM methods offered, by the name used on the CLI and in the dashboard.
CAM_METHODS: dict[str, type] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "ablationcam": AblationCAM,
}


class _KeepRawCam:
    """Mixin that keeps the un-normalised CAM that pytorch-grad-cam computes and then min-max scales away."""

    raw_cam: np.ndarray | None = None

    def get_cam_image(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        cam = super().get_cam_image(*args, **kwargs)  # type: ignore[misc]
        self.raw_cam = np.maximum(cam, 0).astype(np.float32)
        return cam


#: Constructor arguments per method: ablation scores 2048 channels, so large batches keep it to a few passes.
_METHOD_KWARGS: dict[str, dict] = {"ablationcam": {"batch_size": 512}}


#: Yardsticks that are not explanations (faithfulness baselines), reachable by name but not offered as methods.
BASELINE_METHODS: dict[str, type] = {"randomcam": RandomCAM}


@lru_cache(maxsize=None)
def _raw_keeping(method: str) -> type:
    try:
        base = CAM_METHODS.get(method) or BASELINE_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(CAM_METHODS)}") from None
    return type(f"Raw{base.__name__}", (_KeepRawCam, base), {})


def head_split(net: nn.Module) -> tuple[nn.Module, nn.Linear] | None:
    """``(everything before the head's final Linear, that Linear)`` of a network that ends in a fastai head.

    ``net`` is a ``Sequential`` whose last child is the head (a ``Sequential`` ending in ``nn.Linear``): the
    learner's ``Sequential(body, head)``, or the back half of a :class:`SplitModel`. The first part's output is the
    pooled feature vector the classifier reads (``(B, 512)`` for fastai's default head). New ``Sequential``
    containers around the same modules: nothing is copied or hooked. ``None`` for any other layout.
    """
    head = net[-1] if isinstance(net, nn.Sequential) and len(net) else None
    if isinstance(head, nn.Sequential) and len(head) and isinstance(head[-1], nn.Linear):
        return nn.Sequential(*list(net)[:-1], *list(head)[:-1]), head[-1]
    return None


class _Tail(nn.Module):
    """The network after the target layer, fed the target layer's activation through an identity tap. When the head
    ends in a Linear, the input of that Linear (the feature vector) of the first forward pass is kept."""

    def __init__(self, rest: nn.Module) -> None:
        super().__init__()
        self.tap = nn.Identity()
        parts = head_split(rest)
        self.rest, self.last = parts if parts else (rest, None)
        self.features: torch.Tensor | None = None

    def forward(self, acts: torch.Tensor) -> torch.Tensor:
        out = self.rest(self.tap(acts))
        if self.last is None:
            return out
        if self.features is None:  # AblationCAM runs the tail again on ablated copies; keep the real pass
            self.features = out.detach()
        return self.last(out)


class _Ran(nn.Module):
    """A front already run: gives its stored output (detached, so each caller gets a fresh leaf) for any input."""

    def __init__(self, acts: torch.Tensor) -> None:
        super().__init__()
        self.acts = acts

    def forward(self, _x: torch.Tensor) -> torch.Tensor:
        return self.acts.detach()


@dataclass(frozen=True)
class SplitModel:
    """A network cut after one of its layers: ``back(front(x)) == net(x)``, ``front(x)`` that layer's output."""

    front: nn.Module
    back: nn.Module

    @classmethod
    def at(cls, model: nn.Module, path: str) -> "SplitModel":
        """Cut ``model`` after the module at ``path`` (a :func:`~facefake_core.model.network.layer_names` value)."""
        return cls(*split_at(model, path))

    def ran(self, x: torch.Tensor) -> "SplitModel":
        """This cut with its front run once on ``x``: calls on the same ``x`` (several CAM methods, a baseline)
        share that one front pass. Only for ``x`` itself."""
        with torch.no_grad():
            return SplitModel(_Ran(self.front(x)), self.back)


#: The target name that asks for the margin (positive class's logit minus the other's) instead of one class.
MARGIN = "margin"


@dataclass(frozen=True)
class Margin:
    """A pytorch-grad-cam target: the logit of class ``pos`` minus that of class ``neg`` ("fake − real")."""

    pos: int
    neg: int

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        if model_output.dim() == 1:
            return model_output[self.pos] - model_output[self.neg]
        return model_output[:, self.pos] - model_output[:, self.neg]


@dataclass(frozen=True)
class CamResult:
    """One batch through the split network.

    Attributes:
        probs: ``(B, n_classes)`` float32 softmax of the head's logits.
        raw_cam: ``(B, h, w)`` float32, non-negative, on the target layer's grid, un-normalised.
        targets: ``(B,)`` the class index each map explains.
        features: ``(B, D)`` float32 input of the head's final Linear from the same pass, or ``None`` when the
            head does not end in one (see :func:`head_split`).
        class_cams: ``(B, n_classes, h, w)`` float32 raw CAM of every class (``class_cams[:, c]`` explains class
            ``c``), or ``None`` unless asked for (``every_class``).
        logits: ``(B, n_classes)`` float32 logits the probabilities come from (``None`` where not kept).
    """

    probs: np.ndarray
    raw_cam: np.ndarray
    targets: np.ndarray
    features: np.ndarray | None = None
    class_cams: np.ndarray | None = None
    logits: np.ndarray | None = None


def _n_classes(tail: _Tail, acts: torch.Tensor) -> int:
    if tail.last is not None:
        return tail.last.out_features
    with torch.no_grad():
        return int(tail(acts[:1]).shape[1])


def predict_and_cam(split: SplitModel, x: torch.Tensor, method: str = "gradcam", targets=None,
                    every_class: bool = False) -> CamResult:
    """Probabilities and CAM of a batch from a single pass.

    Args:
        split: the network cut at the target layer.
        x: ``(B, 3, H, W)`` float32 normalised input, a plain tensor on the model's device.
        method: a key of :data:`CAM_METHODS`.
        targets: class index per image (int or sequence), a :class:`Margin`, or ``None`` for each image's
            predicted class.
        every_class: also explain every class (``class_cams``). The front runs once either way; the tail (the
            blocks after the target layer and the head) runs on one copy of the activations per class, in one
            batch, with one backward pass, so each copy's gradient is that of its own class. ``raw_cam`` is then
            picked from ``class_cams``; a :class:`Margin` target is refused.

    Returns:
        A :class:`CamResult` (``targets`` is -1 for a margin map).

    Raises:
        ValueError: ``every_class`` with a :class:`Margin` target.
    """
    if every_class and isinstance(targets, Margin):
        raise ValueError("every_class explains each class, not a margin")
    with torch.no_grad():
        acts = split.front(x)
    n = acts.shape[0]
    tail = _Tail(split.back)
    cam_targets = None
    if every_class:
        k = _n_classes(tail, acts)
        # Copy c of the batch is explained for class c; in eval mode the tail treats every image on its own.
        acts = torch.cat([acts] * k)  # keeps the activations' memory format (repeat() would not), ~4x faster
        cam_targets = [ClassifierOutputTarget(c) for c in range(k) for _ in range(n)]
    elif isinstance(targets, Margin):
        cam_targets = [targets] * n
    elif targets is not None:
        chosen = np.broadcast_to(np.asarray(targets), (n,))
        cam_targets = [ClassifierOutputTarget(int(c)) for c in chosen]
    # The parameters do not require grad, so the activation is the only leaf gradients flow to.
    acts.requires_grad_(True)
    cam_cls = _raw_keeping(method)
    with cam_cls(model=tail, target_layers=[tail.tap], **_METHOD_KWARGS.get(method, {})) as cam:
        # With targets=None pytorch-grad-cam explains each image's arg-max class, as we want by default.
        cam(input_tensor=acts, targets=cam_targets)
        logits = cam.outputs.detach()[:n]
        raw = cam.raw_cam
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    chosen = (probs.argmax(1) if targets is None else np.full(len(probs), -1) if isinstance(targets, Margin)
              else np.broadcast_to(np.asarray(targets), (len(probs),)))
    chosen = np.asarray(chosen, dtype=np.int64)
    class_cams = None
    if every_class:
        class_cams = np.ascontiguousarray(raw.reshape(-1, n, *raw.shape[1:]).swapaxes(0, 1))
        raw = class_cams[np.arange(n), chosen]
    feats = None if tail.features is None else tail.features[:n].float().cpu().numpy()
    return CamResult(probs=probs.astype(np.float32), raw_cam=raw, targets=chosen, features=feats,
                     class_cams=class_cams, logits=logits.float().cpu().numpy())


def forward_only(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax probabilities ``(B, n_classes)`` without any CAM, under ``torch.inference_mode``."""
    with torch.inference_mode():
        return torch.softmax(model(x).float(), dim=1).cpu().numpy().astype(np.float32)


def forward_features(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities ``(B, n_classes)`` and the head's feature vectors ``(B, D)`` (float32, ``None`` when the head
    does not end in a Linear) from one pass under ``torch.inference_mode``."""
    parts = head_split(model)
    with torch.inference_mode():
        if parts is None:
            return torch.softmax(model(x).float(), dim=1).cpu().numpy().astype(np.float32), None
        feats = parts[0](x)
        probs = torch.softmax(parts[1](feats).float(), dim=1)
        return probs.cpu().numpy().astype(np.float32), feats.float().cpu().numpy()
