"""Where things are on a photo: the one :data:`Box` type, and a CAM grid mapped back through the crop the model saw.

Boxes are ``(x0, y0, x1, y1)`` in pixels of the upright photo, ``x1``/``y1`` exclusive; a box may extend past the
photo (pad resizing). Heatmaps are float32 ``(H, W)`` in ``[0, 1]`` (see :mod:`facefake_core.config`).
"""

from __future__ import annotations

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import scale_cam_image

Box = tuple[int, int, int, int]


def clip_box(box: tuple[float, float, float, float], h: int, w: int) -> Box:
    """``box`` rounded to whole pixels and clipped to an ``(h, w)`` image, never empty (at least 1x1)."""
    x0, y0, x1, y1 = box
    x0, y0 = int(np.clip(round(x0), 0, w - 1)), int(np.clip(round(y0), 0, h - 1))
    return x0, y0, int(np.clip(round(x1), x0 + 1, w)), int(np.clip(round(y1), y0 + 1, h))


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
