"""Per-image focus and depth-of-field measures: is the background blurred by defocus while the face is sharp?

Images follow the package convention (see :mod:`facefake_core.config`): RGB ``uint8`` ``(H, W, 3)``.
Everything is measured on the luminance of a *working copy* whose longest side is :data:`WORK_SIZE` px, whatever
the file's size: every band, block and blur below is a fixed fraction of the frame, so the same photo at 192 px or
2048 px is measured on nearly the same pixels and gets the same verdict. Boxes are mapped back to the photo's grid.

**Why not the face's scale.** A working copy sized by the Haar cascade's face box (version 3) made the verdict hang
on a yes/no detector: on the same photo resized from 192 to 2048 px the cascade finds the face at some sizes and
not at others, and its box width moves by 3-6% when it does; ``dof_score`` moves by about as much as the log of the
scale (0.03 for 3%), and a found face changed the measuring box and the subject's extent too (0.06-0.28 in all). So
everything the verdict depends on (the scale, the subject box, the background) comes from the photo's own
sharpness, which changes continuously with its pixels; the cascade only names the reported ``face_box``.

**Why a ratio of bands.** Defocus is a low-pass filter: it takes fine detail away before coarse structure.
How much detail a region has also depends on its contrast (a plain wall, a low-contrast texture), so the
amount of fine detail alone cannot tell "defocused" from "in focus but faint". Each block is judged instead by
its *detail ratio*: the energy of a fine band (difference of Gaussians at :data:`FINE_SIGMA` and
:data:`DOG_STEP` times it) over that of a coarse band (the same at :data:`COARSE_SIGMA`), both with the
sensor-noise share removed (noise sigma from Immerkaer's operator on the flattest blocks, white-noise gains).
The ratio does not change with contrast, and slight lens blur, demosaicing and JPEG barely touch these bands,
while a defocus blur of a few pixels empties the fine one. A block whose coarse band is fainter than
:data:`FEATURELESS` has no structure to judge: its ratio is taken over that floor, so a featureless backdrop
scores like a defocused one (for a classifier that keys on background detail they are the same cue).
Readings are then pooled over each block's :data:`POOL_BLOCKS` x :data:`POOL_BLOCKS` neighbourhood (geometric
mean weighted by coarse-band energy): defocus changes smoothly with depth, and an edge says more about focus
than faint texture does, whose spectrum says as much about its grain as about blur. A featureless block is
never raised by its neighbours (it has nothing to show focus with).

**Scale of the ratios.** They are read against an ideal step edge: :data:`IN_FOCUS_DETAIL` is the detail ratio
of an edge blurred by :data:`IN_FOCUS_BLUR` (the sampling limit), ``DEFOCUS_LEVEL`` that of an edge blurred by
:data:`DEFOCUS_BLUR`, relative to it. Both are computed from a rendered edge at import, not fitted.

**Subject and background.** The *subject box* (``subject_box``) is the bounding box of the largest 4-connected
group of blocks that are both detailed (fine-band energy at least :data:`SHARP_LEVEL` of the 90th percentile) and
in focus on their own (unpooled ratio not defocused: a contrasty blurred shape is detailed but not in focus): in a
portrait, the face (and what is as sharp next to it). On an image without an in-focus detailed block there is none,
and nothing is called defocused. ``face_sharpness`` is the detail ratio of the subject box shrunk by
:data:`FACE_INSET`, capped at :data:`IN_FOCUS_DETAIL`: the subject sets the in-focus reference, but
finer-than-an-edge content (pores, noise, hair) does not raise the bar (``face_hf_energy`` is taken there
too). The *subject* region is the box grown by
:data:`BG_MARGIN`, plus a band as wide as the box below it (the body). Everything else is background;
``background_sharpness`` is the median pooled block ratio there, capped at :data:`IN_FOCUS_DETAIL` like the face's:
a background cannot be more in focus than in focus, so in a photo sharp all over, which of several equally sharp
regions is taken for the subject does not move the score.

**The reported face box** (``face_box``) comes from OpenCV's frontal-face Haar cascade
(:func:`~facefake_core.imaging.faces.detect_face`, ``face_source="cascade"``), else it is the subject box
(``"sharpness"``), else ``None`` (``"none"``). Callers use it for the face (CAM-in-bokeh's ``face_share``, edits
that keep the face untouched); the verdict does not.

**Rule**: a block is *defocused* when its pooled ratio is below ``DEFOCUS_LEVEL`` times the subject's, i.e. its
detail looks like that of an edge blurred by at least :data:`DEFOCUS_BLUR` px when the subject's looks in focus.
``dof_score = log10(face_sharpness / background_sharpness)`` (0: background as detailed as the subject; the
background is floored at :data:`MIN_DETAIL`), and ``narrow_dof = dof_score >= NARROW_DOF_THRESHOLD``, with the
threshold ``-log10(DEFOCUS_LEVEL)``: the median background block is defocused, i.e. at least half the
background is. ``*_hf_energy`` is the mean square of luminance minus its Gaussian blur (sigma
:data:`HF_SIGMA`), noise included: what a CNN sees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import cv2
import numpy as np

from .faces import detect_face
from .geometry import Box, clip_box

#: Longest side (working px) of the working copy: every measure below is in units of the frame, not of the file.
#: A portrait's face (a quarter to two fifths of the frame) is then about 50-75 px wide.
WORK_SIZE = 192
#: Most the working copy is enlarged (a small photo is enlarged to the working scale, but adds no detail).
MAX_UPSCALE = 2.0
#: Side of a sharpness block, in working-copy pixels (a portrait's face is about 4-5 blocks wide).
BLOCK = 14
#: Fine and coarse detail bands: differences of Gaussians at these sigmas (working px) and DOG_STEP times them.
#: The fine band survives a camera's slight lens blur and JPEG; a defocus of a few pixels empties it.
FINE_SIGMA = 1.5
COARSE_SIGMA = 3.0
DOG_STEP = 1.6
#: Gaussian sigma (working px) whose residual gives the high-frequency energy.
HF_SIGMA = 2.0
#: Fraction of the face box trimmed from each side before measuring the face (drops box corners).
FACE_INSET = 0.15
#: Fraction of the face box added on each side before the background starts (hair, ears).
BG_MARGIN = 0.1
#: Width, in subject-box widths, of the body band below the subject box.
SUBJECT_TORSO_WIDTH = 1.0
#: Gaussian blur (working px) of an in-focus edge (the sampling limit), and of an edge that counts as
#: defocused: 2.5 times as wide, i.e. 0.65% of the frame's longest side (about 2% of a portrait's face width). Slight lens softness, demosaicing and JPEG
#: stay below it; the background blur of a portrait lens (a disc a tenth of the face across) goes well past it.
IN_FOCUS_BLUR = 0.5
DEFOCUS_BLUR = 1.25
#: Coarse-band energy (grey levels^2, about 1.4 grey levels rms) below which a block has too little
#: structure to judge; its detail ratio is taken over this floor.
FEATURELESS = 2.0
#: Blocks per side (odd) of the neighbourhood whose readings are pooled.
POOL_BLOCKS = 5
#: Sharpness fallback: blocks at or above this fraction of the 90th-percentile fine-band energy are detailed.
SHARP_LEVEL = 0.5
#: Below this 90th-percentile fine-band energy (grey levels^2) the image has no detail to judge.
FLAT_FLOOR = 0.05
#: Smallest background detail ratio the face's is divided by.
MIN_DETAIL = 1e-3
#: Largest ``|dof_score|``: past a tenth (or ten times) the face's detail ratio the reading is set by the noise
#: and FEATURELESS floors, not by focus, and moves with the resampling of a featureless backdrop.
MAX_DOF_SCORE = 1.0


#: Bumped whenever the measures change meaning, so results stored with older measures are recomputed.
FOCUS_VERSION = 4


@dataclass
class FocusMeasures:
    """Focus measures of one photo (see the module docstring for the definitions).

    Sharpness is a detail ratio (fine- over coarse-band energy, dimensionless; an in-focus edge has
    ``IN_FOCUS_DETAIL``); HF energy is in grey levels^2 of the working copy; ``sharpness_ratio`` is face over
    background (floored as in the rule); ``defocus_fraction`` is the share of the frame in defocused
    blocks; ``noise_sigma`` the estimated sensor noise in grey levels; ``image_shape`` the photo's ``(H, W)``;
    ``subject_box`` the in-focus box the verdict is measured against, in the photo's pixels (``None``: none found,
    or measures stored before version 4).
    ``block_map`` (float32, block grid ``(gh, gw)`` over the whole photo) holds each block's pooled detail
    ratio relative to the face's, clipped to ``[0, 1]``; ``to_dict`` leaves it out, and measures read back
    from a result row (which stores only the scalars) have ``None`` there.
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
    block_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    subject_box: Box | None = None

    def to_dict(self) -> dict:
        """JSON-safe copy of the scalar fields (``face_box`` as a list or ``None``; no arrays)."""
        out = asdict(self)
        del out["block_map"]
        out["face_box"] = list(self.face_box) if self.face_box is not None else None
        out["subject_box"] = list(self.subject_box) if self.subject_box is not None else None
        out["image_shape"] = list(self.image_shape)
        out["focus_version"] = FOCUS_VERSION
        return out

    @classmethod
    def from_dict(cls, d: dict, block_map: np.ndarray | None = None) -> "FocusMeasures":
        """The inverse of :meth:`to_dict`, given the block map it leaves out (keys that are not fields, such as
        ``focus_version``, are ignored)."""
        names = {f.name for f in fields(cls)}
        fields_ = {k: v for k, v in d.items() if k in names}
        for name in ("face_box", "subject_box"):
            fields_[name] = tuple(fields_[name]) if fields_.get(name) is not None else None
        fields_["image_shape"] = tuple(fields_["image_shape"])
        return cls(**fields_, block_map=None if block_map is None else np.asarray(block_map, np.float32))


def _working_grey(img: np.ndarray) -> tuple[np.ndarray, float, Box | None]:
    """Luminance of the working copy (float32), its scale (working px per photo px), and the cascade's face box
    in the photo's pixels (``None`` when it finds none).

    The longest side goes to :data:`WORK_SIZE` px; a small photo is enlarged at most :data:`MAX_UPSCALE` times.
    """
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    h, w = img.shape[:2]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    face = detect_face(grey)  # runs on its own small copy (faces.CASCADE_SIZE); reported only
    scale = min(WORK_SIZE / max(h, w), MAX_UPSCALE)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # INTER_AREA averages noise down the way a smaller sensor would; enlarging is cubic, on floats (no clipping).
    if size == (w, h):
        work = grey
    elif scale < 1:
        work = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    else:
        work = cv2.resize(grey.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    return work.astype(np.float32), scale, face


def _blocks(energy: np.ndarray) -> np.ndarray:
    """Mean of ``energy`` over each block; the grid covers the whole image proportionally."""
    h, w = energy.shape
    return cv2.resize(energy, (max(1, round(w / BLOCK)), max(1, round(h / BLOCK))), interpolation=cv2.INTER_AREA)


def _dog(g: np.ndarray, sigma: float) -> np.ndarray:
    """One band of detail: Gaussian blur at ``sigma`` minus Gaussian blur at ``DOG_STEP * sigma``."""
    return cv2.GaussianBlur(g, (0, 0), sigma) - cv2.GaussianBlur(g, (0, 0), sigma * DOG_STEP)


def _white_noise_gain(sigma: float) -> float:
    """Variance of the ``sigma`` band per unit variance of white noise: its kernel's sum of squares."""
    return float((_dog(np.pad(np.ones((1, 1), np.float32), 32), sigma) ** 2).sum())


def _edge_detail_ratio(blur: float) -> float:
    """Fine- over coarse-band energy across an ideal step edge blurred by a Gaussian of sigma ``blur`` px."""
    edge = np.zeros((8, 256), np.float32)
    edge[:, 128:] = 100.0
    if blur > 0:
        edge = cv2.GaussianBlur(edge, (0, 0), blur)
    fine, coarse = _dog(edge, FINE_SIGMA)[4], _dog(edge, COARSE_SIGMA)[4]
    return float((fine**2).sum() / (coarse**2).sum())


_FINE_GAIN, _COARSE_GAIN = _white_noise_gain(FINE_SIGMA), _white_noise_gain(COARSE_SIGMA)
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
#: Detail ratio of an in-focus edge: the in-focus reference, and the most a face is credited with.
IN_FOCUS_DETAIL = _edge_detail_ratio(IN_FOCUS_BLUR)
#: A block is defocused below this fraction of the face's detail ratio (an edge blurred by DEFOCUS_BLUR).
DEFOCUS_LEVEL = _edge_detail_ratio(DEFOCUS_BLUR) / IN_FOCUS_DETAIL
#: ``narrow_dof`` when ``dof_score`` reaches this: the median background block is defocused.
NARROW_DOF_THRESHOLD = -math.log10(DEFOCUS_LEVEL)


def _energies(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-pixel fine- and coarse-band energy (noise not yet removed), HF energy, and the noise sigma."""
    g = grey.astype(np.float32)
    fine, coarse = _dog(g, FINE_SIGMA), _dog(g, COARSE_SIGMA)
    hf = g - cv2.GaussianBlur(g, (0, 0), HF_SIGMA)
    # Immerkaer's operator cancels smooth structure; the flattest blocks then show the noise alone.
    residual = np.abs(cv2.filter2D(g, cv2.CV_32F, _IMMERKAER))
    noise = float(np.percentile(_blocks(residual), 10)) * math.sqrt(math.pi / 2) / 6
    return fine * fine, coarse * coarse, hf * hf, noise


def _detail_ratio(fine: np.ndarray | float, coarse: np.ndarray | float) -> np.ndarray | float:
    """Fine- over coarse-band energy, noise removed from both; a faint coarse band counts as FEATURELESS."""
    return fine / np.maximum(coarse, FEATURELESS)


def _pooled(ratio: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Block detail ratios pooled over POOL_BLOCKS x POOL_BLOCKS neighbours: a geometric mean weighted by
    coarse-band energy. A featureless block keeps its own reading when that is lower: it has no structure of
    its own to vouch for focus, so a sharp neighbour (say, the face next to a blank backdrop) cannot lend it one.
    """
    weight = np.maximum(coarse, FEATURELESS).astype(np.float32)
    log_ratio = np.log(np.maximum(ratio, 1e-6)).astype(np.float32)
    size = (POOL_BLOCKS, POOL_BLOCKS)
    pooled = np.exp(cv2.blur(weight * log_ratio, size) / cv2.blur(weight, size))
    return np.where(coarse < FEATURELESS, np.minimum(ratio, pooled), pooled)


def _sharpness_box(level: np.ndarray, focused: np.ndarray, shape: tuple[int, int]) -> Box | None:
    """Bounding box (working px) of the largest 4-connected group of detailed, in-focus blocks; ``None`` if flat."""
    ref = float(np.percentile(level, 90))
    if ref < FLAT_FLOOR:
        return None
    sharp = ((level >= SHARP_LEVEL * ref) & focused).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(sharp, connectivity=4)
    if n < 2:
        return None
    x, y, bw, bh, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    gh, gw = level.shape
    sy, sx = shape[0] / gh, shape[1] / gw
    return clip_box((x * sx, y * sy, (x + bw) * sx, (y + bh) * sy), *shape)


def _subject(box: Box, grid: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Blocks (bool grid) of the subject: the box grown by BG_MARGIN, and the body band below it."""
    (gh, gw), (h, w) = grid, shape
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * BG_MARGIN, (y1 - y0) * BG_MARGIN
    cy, cx = (np.arange(gh) + 0.5) * h / gh, (np.arange(gw) + 0.5) * w / gw  # block centres, working px
    grown = ((cy >= y0 - my) & (cy < y1 + my))[:, None] & ((cx >= x0 - mx) & (cx < x1 + mx))[None, :]
    half = (x1 - x0) * SUBJECT_TORSO_WIDTH / 2
    body = (cy >= y1)[:, None] & (np.abs(cx - (x0 + x1) / 2) < half)[None, :]
    return grown | body


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
    grey, scale, face = _working_grey(img)
    fine_e, coarse_e, hf_e, noise = _energies(grey)
    fine_floor, coarse_floor = noise * noise * _FINE_GAIN, noise * noise * _COARSE_GAIN
    fine_b = np.maximum(_blocks(fine_e) - fine_floor, 0.0)
    coarse_b = np.maximum(_blocks(coarse_e) - coarse_floor, 0.0)
    own = _detail_ratio(fine_b, coarse_b)
    blocks = _pooled(own, coarse_b)
    hf_blocks = _blocks(hf_e)
    h, w = grey.shape

    # The subject's own blocks, unpooled: pooling would dilute a small subject into its blurred surround.
    box = _sharpness_box(fine_b, own >= DEFOCUS_LEVEL * IN_FOCUS_DETAIL, (h, w))
    inv = 1.0 / scale
    subject_box = None if box is None else clip_box(tuple(v * inv for v in box), *img.shape[:2])
    face_box, source = (face, "cascade") if face is not None else (subject_box, "sharpness" if box else "none")
    if box is None:  # no in-focus detail anywhere: no subject, nothing to call defocused
        return FocusMeasures(face_box, source, 0.0, float(np.median(blocks)), 1.0, 0.0, float(np.median(hf_blocks)),
                             0.0, 0.0, False, noise, img.shape[:2], np.zeros(blocks.shape, np.float32))

    x0, y0, x1, y1 = box
    ix0, iy0, ix1, iy1 = clip_box((x0 + (x1 - x0) * FACE_INSET, y0 + (y1 - y0) * FACE_INSET,
                                    x1 - (x1 - x0) * FACE_INSET, y1 - (y1 - y0) * FACE_INSET), h, w)
    inner = (slice(iy0, iy1), slice(ix0, ix1))
    face_detail = _detail_ratio(max(float(fine_e[inner].mean()) - fine_floor, 0.0),
                                max(float(coarse_e[inner].mean()) - coarse_floor, 0.0))
    face_sharp = min(float(face_detail), IN_FOCUS_DETAIL)
    face_hf = float(hf_e[inner].mean())

    subject = _subject(box, blocks.shape, (h, w))
    background = ~subject if (~subject).any() else np.ones_like(subject)  # subject fills the frame: use it all
    bg_sharp = min(float(np.median(blocks[background])), IN_FOCUS_DETAIL)
    bg_hf = float(np.median(hf_blocks[background]))

    block_map = np.clip(blocks / face_sharp, 0, 1) if face_sharp > 0 else np.zeros_like(blocks)
    ratio = face_sharp / max(bg_sharp, MIN_DETAIL)
    dof = float(np.clip(math.log10(ratio), -MAX_DOF_SCORE, MAX_DOF_SCORE)) if ratio > 0 else -MAX_DOF_SCORE
    return FocusMeasures(
        face_box=face_box,
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
        subject_box=subject_box,
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
