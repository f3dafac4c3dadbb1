"""A CAM grid's shares on the defocused blocks and on the face, without drawing the map at the photo's size.

:func:`cam_shares` equals ``cam_in_bokeh(map_to_photo(raw, box, hw), measures)`` (to float rounding; tested), at
about a tenth of its cost: the map on the photo is a bilinear resize of the grid, which is linear and separable,
and the defocus mask is constant on blocks, so every sum the shares need is ``rows @ grid @ cols.T`` with small
matrices: each output row's (column's) interpolation weights, as ``cv2.resize`` computes them, added up over the
photo rows (columns) of a block or of the face box. Only the map's minimum and maximum, which pytorch-grad-cam's
second ``scale_cam_image`` divides by, need the resized map itself, at the crop's size.
"""

from __future__ import annotations

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import scale_cam_image

from .focus import DEFOCUS_LEVEL, FocusMeasures
from .geometry import Box


def _weights(n_src: int, n_dst: int) -> np.ndarray:
    """``(n_dst, n_src)``: the weight of each source sample in each output sample of ``cv2.resize``'s bilinear
    resize along one axis (resizing the identity along that axis; the other axis keeps its size)."""
    return cv2.resize(np.eye(n_src, dtype=np.float32), (n_dst, n_src), interpolation=cv2.INTER_LINEAR).T.astype(
        np.float64)


def _nearest(n_src: int, n_dst: int) -> np.ndarray:
    """The source index ``cv2.resize``'s nearest-neighbour resize takes for each of ``n_dst`` outputs."""
    ramp = np.arange(n_src, dtype=np.float32)[:, None]
    return cv2.resize(ramp, (1, n_dst), interpolation=cv2.INTER_NEAREST)[:, 0].astype(np.int64)


def _sums(weights: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups, n_src)``: the weight rows added up per group."""
    out = np.zeros((n_groups, weights.shape[1]))
    np.add.at(out, groups, weights)
    return out


def cam_shares(raw_cam: np.ndarray, crop_box: Box, measures: FocusMeasures) -> dict[str, float]:
    """Share of a CAM grid's heatmap mass on defocused blocks and on the face box, the heatmap being
    :func:`~facefake_core.imaging.geometry.map_to_photo`'s (normalised alone) on the photo ``measures`` describe.

    Args:
        raw_cam: float32 ``(h, w)`` non-negative CAM on the layer grid.
        crop_box: where the model's input lies on the photo (may extend past it).
        measures: the photo's focus measures.

    Returns:
        ``{"bokeh_share": float, "face_share": float}`` as :func:`~facefake_core.imaging.focus.cam_in_bokeh`.
    """
    H, W = measures.image_shape
    x0, y0, x1, y1 = crop_box
    cw, ch = x1 - x0, y1 - y0
    grid = scale_cam_image(raw_cam[None])[0]
    up = cv2.resize(np.float32(grid), (cw, ch))  # as scale_cam_image resizes it: only its range is needed
    lo, span = float(up.min()), 1e-7 + float(up.max() - up.min())
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)  # the part of the crop on the photo
    if sx1 <= sx0 or sy1 <= sy0:
        return {"bokeh_share": 0.0, "face_share": 0.0}
    wy = _weights(grid.shape[0], ch)[sy0 - y0: sy1 - y0]
    wx = _weights(grid.shape[1], cw)[sx0 - x0: sx1 - x0]
    g = grid.astype(np.float64)

    def mass(rows: np.ndarray, cols: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Heat summed over row groups x column groups: the resized map's sums, shifted and scaled as
        ``scale_cam_image`` does (``count`` pixels per cell)."""
        return (rows @ g @ cols.T - lo * count) / span

    ones_y, ones_x = np.ones((1, len(wy))), np.ones((1, len(wx)))
    total = float(mass(ones_y @ wy, ones_x @ wx, np.array(len(wy) * len(wx)))[0, 0])
    if total <= 0:
        return {"bokeh_share": 0.0, "face_share": 0.0}
    block_map = measures.block_map
    low = (block_map < DEFOCUS_LEVEL) & (measures.face_sharpness > 0)
    gh, gw = low.shape
    by, bx = _nearest(gh, H)[sy0:sy1], _nearest(gw, W)[sx0:sx1]
    cells = mass(_sums(wy, by, gh), _sums(wx, bx, gw), np.outer(np.bincount(by, minlength=gh),
                                                                 np.bincount(bx, minlength=gw)))
    fx0, fy0, fx1, fy1 = measures.face_box or (0, 0, 0, 0)
    fy = slice(max(fy0, sy0) - sy0, max(min(fy1, sy1) - sy0, 0))
    fx = slice(max(fx0, sx0) - sx0, max(min(fx1, sx1) - sx0, 0))
    n_face = len(wy[fy]) * len(wx[fx])
    face = float(mass(ones_y[:, fy] @ wy[fy], ones_x[:, fx] @ wx[fx], np.array(n_face))[0, 0]) if n_face else 0.0
    return {"bokeh_share": float(cells[low].sum()) / total, "face_share": face / total}
