"""What a loaded model is and what its calls return: the model card, a prediction, an explanation.

Photos are RGB ``uint8`` ``(H, W, 3)``; heatmaps float32 ``(H, W)`` in ``[0, 1]`` (see :mod:`facefake_core.config`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..imaging.geometry import Box


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
    #: How the network runs (:meth:`~facefake_core.model.Model.variant`): ``fp32``, or an opt-in ``fp16``/``bf16``
    #: autocast, and whether it is ``torch.compile``'d. A variant's ``sha256`` carries the same as a suffix
    #: (``<file sha256>+bf16``), so its results are never stored or read as the fp32 model's.
    precision: str = "fp32"
    compiled: bool = False

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
