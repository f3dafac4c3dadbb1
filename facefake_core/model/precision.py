"""Opt-in ways to run the network faster that change its numbers: ``fp16``/``bf16`` autocast and ``torch.compile``.

fp32 is the default everywhere. A variant (:meth:`~facefake_core.model.Model.variant`) runs the same modules: each
half of the network is wrapped in :class:`Autocast` (float32 in, float32 out, the convolutions in the lower
precision), so what pytorch-grad-cam's numpy step, the softmax and the store see stays float32. The head's final
Linear (512 x 2) stays float32 outside the wrapper on the forward-only path, so
:func:`~facefake_core.model.cam.head_split` still finds the feature vector. How far probabilities drift from fp32 is
measured by ``benchmarks/precision.py`` and checked by ``tests/model/test_precision.py`` (bf16 on the CPU).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .cam import SplitModel, head_split

#: Precision name -> autocast dtype (``None``: plain float32).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class Autocast(nn.Module):
    """``inner`` run under ``torch.autocast(device_type, dtype)``; the output is cast back to float32."""

    def __init__(self, inner: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.device_type, self.dtype = inner, device_type, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.inner(x)
        return out.float()


def wrapper(device: torch.device, precision: str, compile: bool) -> Callable[[nn.Module], nn.Module]:
    """The function that wraps one part of the network for this variant.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]

    def wrap(module: nn.Module) -> nn.Module:
        module = Autocast(module, device.type, dtype) if dtype is not None else module
        return torch.compile(module) if compile else module

    return wrap


def wrap_net(net: nn.Module, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """``net`` with everything before its head's final Linear wrapped (the Linear stays as it is, so the feature
    vector is still found by :func:`head_split`), or all of it when it has no such head."""
    parts = head_split(net)
    return wrap(net) if parts is None else nn.Sequential(wrap(parts[0]), nn.Sequential(parts[1]))


def wrap_split(split: SplitModel, wrap: Callable[[nn.Module], nn.Module]) -> SplitModel:
    """Both halves of a cut network wrapped (the back half as by :func:`wrap_net`)."""
    return SplitModel(wrap(split.front), wrap_net(split.back, wrap))


def variant_suffix(precision: str, compile: bool) -> str:
    """What a variant's results key adds to the model file's sha256: ``""`` for plain fp32, else ``+bf16``,
    ``+compile`` or ``+fp16+compile``."""
    return ("" if precision == "fp32" else f"+{precision}") + ("+compile" if compile else "")
