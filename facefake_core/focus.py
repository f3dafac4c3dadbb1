"""Per-image focus and depth-of-field measures: how much sharper the face is than the background.

Images follow the package convention (see :mod:`facefake_core.config`): RGB ``uint8`` ``(H, W, 3)``.
Everything is measured on the luminance of a *working copy* whose longest side is at most
:data:`WORK_SIZE`; boxes are mapped back to the original pixel grid.

**Sharpness** of a region is the variance of the Laplacian of the lightly smoothed luminance
(Gaussian sigma :data:`PRESMOOTH_SIGMA`, which keeps the band that defocus removes but sensor noise does
not dominate), minus the share that the estimated sensor noise alone would give (noise sigma from
Immerkaer's operator on the flattest blocks). For the face it is the mean over the face box shrunk by
:data:`FACE_INSET`; for the background, the *median* block outside the box grown by :data:`BG_MARGIN`, so
that in-focus hair, shoulders or a sharp object at the edge do not decide alone. ``*_hf_energy`` is the
mean square of luminance minus its Gaussian blur (sigma :data:`HF_SIGMA`), noise included: what a CNN sees.

**Face location**: OpenCV's frontal-face Haar cascade (``face_source="cascade"``); when it finds nothing,
the bounding box of the largest connected group of sharp blocks (``"sharpness"``); on an image with no
detail at all, no box (``"none"``).

**Rule**: a block is *defocused* when its sharpness is below :data:`DEFOCUS_LEVEL` times the face's.
``dof_score = log10(face_sharpness / background_sharpness)`` (0: background as sharp as the face; each unit
is ten times less background detail; the background is floored at :data:`MIN_DETAIL` and
:data:`NOISE_GUARD` times the noise floor, the least detail the measure resolves). ``narrow_dof = dof_score >= NARROW_DOF_THRESHOLD``, with the threshold
``-log10(DEFOCUS_LEVEL)``: the median background block is defocused, i.e. at least half the background is.
A featureless backdrop scores like a defocused one: without detail the two cannot be told apart, and for a
classifier that keys on background detail they are the same cue.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

#: Longest side of the working copy, in pixels.
WORK_SIZE = 512
#: Side of a sharpness block, in working-copy pixels.
BLOCK = 16
#: Gaussian sigma (working px) applied before the Laplacian: a light denoise.
PRESMOOTH_SIGMA = 1.0
#: Gaussian sigma (working px) whose residual gives the high-frequency energy.
HF_SIGMA = 2.0
#: Fraction of the face box trimmed from each side before measuring the face (drops box corners).
FACE_INSET = 0.15
#: Fraction of the face box added on each side before the background starts (hair, ears).
BG_MARGIN = 0.1
#: A block is defocused below this fraction of the face's sharpness.
DEFOCUS_LEVEL = 0.15
#: ``narrow_dof`` when ``dof_score`` reaches this: the median background block is defocused.
NARROW_DOF_THRESHOLD = -math.log10(DEFOCUS_LEVEL)
#: Sharpness fallback: blocks at or above this fraction of the 90th-percentile block count as sharp.
SHARP_LEVEL = 0.5
#: Below this 90th-percentile block sharpness (grey levels^2) the image has no detail to judge.
FLAT_FLOOR = 0.5
#: Smallest background sharpness the ratio divides by (grey levels^2), and the same as a fraction of the
#: noise floor: below these a block's detail cannot be told from zero, so a noisy or wholly blurred photo
#: does not get an unbounded ratio from a sliver of face detail.
MIN_DETAIL = 0.1
NOISE_GUARD = 0.2
#: Largest ``|dof_score|``.
MAX_DOF_SCORE = 3.0
#: Haar cascade: longest side it runs at, step between scales, and smallest face (fraction of short side).
CASCADE_SIZE = 160
CASCADE_SCALE_FACTOR = 1.15
CASCADE_MIN_FACE = 0.2
CASCADE_FILE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]
_log = logging.getLogger(__name__)
# One cascade, loaded on first use; detectMultiScale is not guaranteed thread-safe, so calls hold the lock.
# A detection takes a few ms and already runs on all cores, so one per thread would buy little.
_cascade_lock = threading.Lock()
_cascade: list[cv2.CascadeClassifier | None] = []


@dataclass
class FocusMeasures:
    """Focus measures of one photo (see the module docstring for the definitions).

    Sharpness and HF energy are in grey levels^2 of the working copy; ``sharpness_ratio`` is face over
    background (floored as in the rule); ``defocus_fraction`` is the share of the frame in defocused
    blocks; ``noise_sigma`` the estimated sensor noise in grey levels; ``image_shape`` the photo's ``(H, W)``.
    ``block_map`` (float32, block grid ``(gh, gw)`` over the whole photo) holds each block's sharpness
    relative to the face's, clipped to ``[0, 1]``; ``to_dict`` leaves it out.
    """

    face_box: Box | None
    face_source: str
    face_sharpness: float
    background_sharpness: float
    sharpness_ratio: float
    face_hf_energy: float
    background_hf_energy: float
    defocus_fraction: float
    dof_score: float
    narrow_dof: bool
    noise_sigma: float
    image_shape: tuple[int, int]
    block_map: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-safe copy of the scalar fields (``face_box`` as a list or ``None``; no arrays)."""
        out = asdict(self)
        del out["block_map"]
        out["face_box"] = list(self.face_box) if self.face_box is not None else None
        out["image_shape"] = list(self.image_shape)
        return out


def detect_face(grey: np.ndarray) -> Box | None:
    """Largest frontal face the Haar cascade finds.

    Args:
        grey: luminance, ``uint8`` ``(H, W)``.

    Returns:
        ``(x0, y0, x1, y1)`` in ``grey``'s pixels, or ``None``.
    """
    h, w = grey.shape
    scale = min(1.0, CASCADE_SIZE / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    min_side = max(12, int(CASCADE_MIN_FACE * min(small.shape)))
    with _cascade_lock:
        if not _cascade:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
            if cascade.empty():  # opencv-python 5.x ships no cascades: fall back to sharpness
                _log.warning("no Haar cascade %s in cv2.data; faces are located by sharpness", CASCADE_FILE)
            _cascade.append(None if cascade.empty() else cascade)
        if _cascade[0] is None:
            return None
        found = _cascade[0].detectMultiScale(cv2.equalizeHist(small), scaleFactor=CASCADE_SCALE_FACTOR,
                                             minNeighbors=4, minSize=(min_side, min_side))
    if len(found) == 0:
        return None
    x, y, bw, bh = max(found, key=lambda r: r[2] * r[3])
    return _clip_box((x / scale, y / scale, (x + bw) / scale, (y + bh) / scale), h, w)


def _clip_box(box: tuple[float, float, float, float], h: int, w: int) -> Box:
    x0, y0, x1, y1 = box
    x0, y0 = int(np.clip(round(x0), 0, w - 1)), int(np.clip(round(y0), 0, h - 1))
    return x0, y0, int(np.clip(round(x1), x0 + 1, w)), int(np.clip(round(y1), y0 + 1, h))


def _working_grey(img: np.ndarray) -> tuple[np.ndarray, float]:
    """Luminance ``uint8`` of the working copy and its scale (working px per original px)."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    scale = min(1.0, WORK_SIZE / max(h, w))
    if scale < 1.0:  # downscale colour first: INTER_AREA averages noise the way a smaller sensor would
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), scale


def _blocks(energy: np.ndarray) -> np.ndarray:
    """Mean of ``energy`` over each block; the grid covers the whole image proportionally."""
    h, w = energy.shape
    return cv2.resize(energy, (max(1, round(w / BLOCK)), max(1, round(h / BLOCK))), interpolation=cv2.INTER_AREA)


def _noise_gain() -> float:
    """Variance of the smoothed Laplacian per unit variance of white noise: its kernel's sum of squares."""
    impulse = np.pad(np.ones((1, 1), np.float32), 16)
    return float((cv2.Laplacian(cv2.GaussianBlur(impulse, (0, 0), PRESMOOTH_SIGMA), cv2.CV_32F) ** 2).sum())


_NOISE_GAIN = _noise_gain()
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def _energies(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-pixel Laplacian energy (noise floor not yet removed), HF energy, and the noise sigma."""
    g = grey.astype(np.float32)
    lap = cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), PRESMOOTH_SIGMA), cv2.CV_32F)
    hf = g - cv2.GaussianBlur(g, (0, 0), HF_SIGMA)
    # Immerkaer's operator cancels smooth structure; the flattest blocks then show the noise alone.
    residual = np.abs(cv2.filter2D(g, cv2.CV_32F, _IMMERKAER))
    noise = float(np.percentile(_blocks(residual), 10)) * math.sqrt(math.pi / 2) / 6
    return lap * lap, hf * hf, noise


def _sharpness_box(blocks: np.ndarray, shape: tuple[int, int]) -> Box | None:
    """Bounding box (working px) of the largest connected group of sharp blocks, or ``None`` if flat."""
    ref = float(np.percentile(blocks, 90))
    if ref < FLAT_FLOOR:
        return None
    sharp = (blocks >= SHARP_LEVEL * ref).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(sharp, connectivity=8)
    if n < 2:
        return None
    x, y, bw, bh, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    gh, gw = blocks.shape
    sy, sx = shape[0] / gh, shape[1] / gw
    return _clip_box((x * sx, y * sy, (x + bw) * sx, (y + bh) * sy), *shape)


def _defocused(block_map: np.ndarray, face_sharpness: float) -> np.ndarray:
    """Defocused blocks, bool grid; none when the face has no detail to compare with."""
    return (block_map < DEFOCUS_LEVEL) & (face_sharpness > 0)


def measure_focus(img: np.ndarray) -> FocusMeasures:
    """Measure face and background sharpness, the defocus map and the narrow-depth-of-field flag.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.

    Returns:
        :class:`FocusMeasures`; ``face_box`` is in ``img``'s pixels.
    """
    grey, scale = _working_grey(img)
    lap_e, hf_e, noise = _energies(grey)
    floor = noise * noise * _NOISE_GAIN
    blocks = np.maximum(_blocks(lap_e) - floor, 0.0)
    hf_blocks = _blocks(hf_e)
    h, w = grey.shape

    box, source = detect_face(grey), "cascade"
    if box is None:
        box, source = _sharpness_box(blocks, (h, w)), "sharpness"
    if box is None:  # no detail anywhere: no subject, nothing to call defocused
        return FocusMeasures(None, "none", 0.0, float(np.median(blocks)), 1.0, 0.0, float(np.median(hf_blocks)),
                             0.0, 0.0, False, noise, img.shape[:2], np.zeros(blocks.shape, np.float32))

    x0, y0, x1, y1 = box
    ix0, iy0, ix1, iy1 = _clip_box((x0 + (x1 - x0) * FACE_INSET, y0 + (y1 - y0) * FACE_INSET,
                                    x1 - (x1 - x0) * FACE_INSET, y1 - (y1 - y0) * FACE_INSET), h, w)
    inner = (slice(iy0, iy1), slice(ix0, ix1))
    face_sharp = max(float(lap_e[inner].mean()) - floor, 0.0)
    face_hf = float(hf_e[inner].mean())

    gh, gw = blocks.shape
    mx, my = (x1 - x0) * BG_MARGIN, (y1 - y0) * BG_MARGIN
    cy, cx = (np.arange(gh) + 0.5) * h / gh, (np.arange(gw) + 0.5) * w / gw  # block centres, working px
    in_box = ((cy >= y0 - my) & (cy < y1 + my))[:, None] & ((cx >= x0 - mx) & (cx < x1 + mx))[None, :]
    background = ~in_box if (~in_box).any() else np.ones_like(in_box)  # box fills the frame: use it all
    bg_sharp = float(np.median(blocks[background]))
    bg_hf = float(np.median(hf_blocks[background]))

    block_map = np.clip(blocks / face_sharp, 0, 1) if face_sharp > 0 else np.zeros_like(blocks)
    ratio = face_sharp / max(bg_sharp, MIN_DETAIL, NOISE_GUARD * floor)
    dof = float(np.clip(math.log10(ratio), -MAX_DOF_SCORE, MAX_DOF_SCORE)) if ratio > 0 else -MAX_DOF_SCORE
    inv = 1.0 / scale
    return FocusMeasures(
        face_box=_clip_box((x0 * inv, y0 * inv, x1 * inv, y1 * inv), *img.shape[:2]),
        face_source=source,
        face_sharpness=face_sharp,
        background_sharpness=bg_sharp,
        sharpness_ratio=ratio,
        face_hf_energy=face_hf,
        background_hf_energy=bg_hf,
        defocus_fraction=float(_defocused(block_map, face_sharp).mean()),
        dof_score=dof,
        narrow_dof=bool(dof >= NARROW_DOF_THRESHOLD),
        noise_sigma=noise,
        image_shape=img.shape[:2],
        block_map=block_map.astype(np.float32),
    )


def sharpness_map(img: np.ndarray) -> np.ndarray:
    """Block sharpness relative to the face, float32 ``(gh, gw)`` in ``[0, 1]`` (1: as sharp as the face).

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
    """
    return measure_focus(img).block_map


def defocus_mask(source: np.ndarray | FocusMeasures, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Pixels in defocused blocks (sharpness below ``DEFOCUS_LEVEL`` of the face's).

    Args:
        source: a photo (RGB ``uint8`` ``(H, W, 3)``) or its :class:`FocusMeasures`.
        shape: ``(H, W)`` of the mask; the photo's by default.

    Returns:
        bool ``(H, W)``.
    """
    m = source if isinstance(source, FocusMeasures) else measure_focus(source)
    h, w = shape if shape is not None else m.image_shape
    low = _defocused(m.block_map, m.face_sharpness).astype(np.uint8)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def cam_in_bokeh(heatmap: np.ndarray, source: np.ndarray | FocusMeasures) -> dict[str, float]:
    """Share of a heatmap's mass on defocused regions and on the face box.

    Args:
        heatmap: float32 ``(H, W)`` in ``[0, 1]``, on the photo's pixel grid.
        source: the photo (RGB ``uint8`` ``(H, W, 3)``) or its :class:`FocusMeasures`.

    Returns:
        ``{"bokeh_share": float, "face_share": float}``, each in ``[0, 1]``; both 0 for an all-zero heatmap.
    """
    m = source if isinstance(source, FocusMeasures) else measure_focus(source)
    if heatmap.shape != tuple(m.image_shape):
        raise ValueError(f"heatmap shape {heatmap.shape} does not match the photo's {tuple(m.image_shape)}")
    heat = heatmap.astype(np.float64)
    total = float(heat.sum())
    if total <= 0:
        return {"bokeh_share": 0.0, "face_share": 0.0}
    x0, y0, x1, y1 = m.face_box or (0, 0, 0, 0)
    return {"bokeh_share": float(heat[defocus_mask(m)].sum()) / total,
            "face_share": float(heat[y0:y1, x0:x1].sum()) / total}
