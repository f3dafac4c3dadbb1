"""The network under the model: what it is (architecture, CAM layers) and how it runs fast (device, memory
format, folded BatchNorms, batch size). Nothing here knows about images or classes.
"""

from __future__ import annotations

import copy
import logging
import os

import torch
from torch import nn

_log = logging.getLogger(__name__)

_RESNET_DEPTHS = {
    ("BasicBlock", (2, 2, 2, 2)): "resnet18",
    ("BasicBlock", (3, 4, 6, 3)): "resnet34",
    ("Bottleneck", (3, 4, 6, 3)): "resnet50",
    ("Bottleneck", (3, 4, 23, 3)): "resnet101",
    ("Bottleneck", (3, 8, 36, 3)): "resnet152",
}


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
    name = override or os.environ.get("FACEFAKE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


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
