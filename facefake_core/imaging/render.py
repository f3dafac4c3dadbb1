"""Pure rendering: arrays in, arrays out. No model, no Streamlit.

Photos are RGB uint8 ``(H, W, 3)``; heatmaps float32 ``(H, W)`` in [0, 1].
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image

from ..config import CONFIG
from .focus import FocusMeasures, defocus_mask
from .geometry import Box, map_to_photo

#: Colour maps offered, by name, as OpenCV constants.
COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "hot": cv2.COLORMAP_HOT,
}


def overlay(photo: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, colormap: str = "jet",
            crop_box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The heatmap drawn on the photo with pytorch-grad-cam's ``show_cam_on_image``.

    Args:
        photo: RGB uint8 ``(H, W, 3)``.
        heatmap: float32 ``(H, W)`` in [0, 1], same size as the photo.
        alpha: weight of the heatmap (0 shows only the photo).
        colormap: a key of :data:`COLORMAPS`.
        crop_box: when given, the region the model saw is outlined.

    Returns:
        RGB uint8 ``(H, W, 3)``.
    """
    out = show_cam_on_image(photo.astype(np.float32) / 255.0, heatmap.astype(np.float32), use_rgb=True,
                            colormap=COLORMAPS[colormap], image_weight=1.0 - float(alpha))
    if crop_box is not None:
        # Outside the crop the model saw nothing: show the photo dimmed rather than the colour map's zero.
        h, w = photo.shape[:2]
        x0, y0, x1, y1 = max(crop_box[0], 0), max(crop_box[1], 0), min(crop_box[2], w), min(crop_box[3], h)
        seen = out[y0:y1, x0:x1].copy()
        out = (photo.astype(np.float32) * 0.55).astype(np.uint8)
        out[y0:y1, x0:x1] = seen
        out = draw_box(out, crop_box)
    return out


def cam_overlay(photo: np.ndarray, raw_cam: np.ndarray, crop_box: Box, *, vmax: float | None = None,
                alpha: float = CONFIG.overlay_alpha, colormap: str = CONFIG.colormap, outline: bool = True) -> np.ndarray:
    """The one pipeline from a raw CAM grid to the picture every page and the CLI show.

    Args:
        photo: the upright photo the CAM belongs to, RGB uint8 ``(H, W, 3)``.
        raw_cam: float32 ``(h, w)`` CAM on the layer grid (:attr:`Explanation.raw_cam` or a stored row's ``cam``).
        crop_box: the region of the photo the model saw (:meth:`Preprocessing.crop_box`).
        vmax: shared colour scale across images; ``None`` normalises this map alone.
        alpha, colormap: as :func:`overlay`.
        outline: outline the crop box and dim what the model did not see.

    Returns:
        RGB uint8 ``(H, W, 3)``.
    """
    heat = map_to_photo(raw_cam, crop_box, photo.shape[:2], vmax)
    return overlay(photo, heat, alpha, colormap, crop_box if outline else None)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], color=(255, 255, 255)) -> np.ndarray:
    """A copy of ``image`` with ``box`` outlined (clipped to the image), line width scaled to its size."""
    out = image.copy()
    h, w = out.shape[:2]
    x0, y0, x1, y1 = box
    t = max(1, round(min(h, w) / 200))
    cv2.rectangle(out, (max(x0, 0), max(y0, 0)), (min(x1, w) - 1, min(y1, h) - 1), color, t)
    return out


#: Colours (RGB) of :func:`focus_overlay`: the defocused blocks' tint, the subject box, the face box.
DEFOCUS_TINT, SUBJECT_COLOUR, FACE_COLOUR = (40, 110, 255), (60, 220, 90), (255, 255, 255)


def focus_overlay(photo: np.ndarray, measures: FocusMeasures, alpha: float = 0.5) -> np.ndarray:
    """What the depth-of-field verdict saw: the photo with its defocused blocks (:func:`defocus_mask`) tinted blue,
    the subject box (the in-focus reference the blocks are judged against) outlined in green and the face box the
    Haar cascade found in white.

    Args:
        photo: RGB uint8 ``(H, W, 3)``, the photo the measures are of.
        measures: its :class:`FocusMeasures` with their block map (fresh from ``measure_focus``; a result row's
            measures have none).
        alpha: weight of the tint on a defocused pixel.

    Raises:
        ValueError: measures without a block map.
    """
    if measures.block_map is None:
        raise ValueError("these focus measures have no block map: measure the photo again (measure_focus)")
    mask = defocus_mask(measures, photo.shape[:2])
    out = photo.copy()
    out[mask] = np.round(photo[mask] * (1 - alpha) + np.array(DEFOCUS_TINT) * alpha).astype(np.uint8)
    if measures.subject_box is not None:
        out = draw_box(out, measures.subject_box, SUBJECT_COLOUR)
    if measures.face_source == "cascade" and measures.face_box is not None:
        out = draw_box(out, measures.face_box, FACE_COLOUR)
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an RGB uint8 array as PNG."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def thumbnail(image: np.ndarray, size: int = 160) -> np.ndarray:
    """Shrink so the longest side is ``size`` (never enlarges)."""
    h, w = image.shape[:2]
    s = min(1.0, size / max(h, w))
    return image if s == 1.0 else cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                                             interpolation=cv2.INTER_AREA)
