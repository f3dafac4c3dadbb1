"""Counterfactual probes: edit a photo (blur or sharpen its background, re-encode, rescale) and ask the model again.

The edits themselves are pure functions in :mod:`facefake_core.counterfactual`; the face region they protect comes
from :func:`facefake_core.focus.measure_focus`. This module joins them to a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .counterfactual import VARIANTS
from .focus import measure_focus
from .images import Photo
from .model import Explanation, Model


def _region(photo: Photo):
    box = measure_focus(photo.pixels).face_box
    h, w = photo.pixels.shape[:2]
    return box if box is not None else (w // 4, h // 4, 3 * w // 4, 3 * h // 4)


def edit(photo: Photo, kind: str, value: float, region=None) -> Photo:
    """One edited copy of ``photo``; the face region (found if not given) is left untouched by background edits."""
    if kind not in VARIANTS:
        raise ValueError(f"unknown edit {kind!r}; choose one of {', '.join(VARIANTS)}")
    v = VARIANTS[kind]
    reg = (region if region is not None else _region(photo)) if v.needs_region else None
    pixels = v.apply(photo.pixels, value, reg)
    return Photo(np.ascontiguousarray(pixels), f"{photo.name} [{kind}={value}]", photo.sha256 + f":{kind}={value}")


@dataclass(frozen=True)
class SweepPoint:
    value: float
    explanation: Explanation


def sweep(model: Model, photo: Photo, kind: str, values: Sequence[float] | None = None,
          method: str = "gradcam") -> list[SweepPoint]:
    """Prediction and heatmap of ``photo`` under each value of one edit, in one batch.

    Returns:
        One :class:`SweepPoint` per value, in order; the identity value reproduces the original.
    """
    values = tuple(VARIANTS[kind].values if values is None else values)
    region = _region(photo) if VARIANTS[kind].needs_region else None
    edited = [edit(photo, kind, v, region) for v in values]
    return [SweepPoint(v, e) for v, e in zip(values, model.explain_batch(edited, method=method))]
