"""Seeded synthetic portraits for the offline demo: a procedural face seen through one of two capture pipelines.

The demo has to reproduce, without downloads, the mechanism behind the seed model's failure: a detector of
generated images leans on the mid/high-frequency traces that a generator's upsampling layers leave, and those
traces are strongest in the background. A studio portrait with a narrow depth of field has a defocused
background; the blur wipes the trace, "real" acts as the catch-all, and the fake is called real.

* ``"real"`` goes through a **camera**: the scene (already defocused, for studio shots: the optics blur
  before the sensor) is blurred slightly by the lens, gets shot and read noise, is sampled through an RGGB
  Bayer mosaic, demosaiced by OpenCV, and JPEG-encoded at quality 70-95.
* ``"fake"`` goes through a **generator**: the scene is rendered at half size, and two transposed-convolution
  style upsampling stages with uneven per-phase gains leave a fixed periodic fingerprint (period 2 and
  period 4). The generator spends its care on the subject, so the trace there is 30% as strong as
  in the background. For studio fakes the background defocus comes *after* the fingerprint, as it would in a
  generator that renders depth of field: the blur is what wipes the trace. Half the fakes are then saved as
  high-quality JPEG.

Images follow the package convention (see ``config.py``): RGB ``uint8`` arrays of shape ``(H, W, 3)``.
The same ``(seed, label, style, size)`` always gives the same bytes.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..imaging.edits import disc_defocus, jpeg_roundtrip
from ..progress import Progress

LABELS: tuple[str, ...] = ("fake", "real")
STYLES: tuple[str, ...] = ("casual", "studio")
MANIFEST_NAME = "manifest.csv"
#: Bumped whenever the same arguments would render different pixels (caches of built data key on it).
SYNTH_VERSION = 1

# Per-phase gains of the generator's two upsampling stages (zero mean: they move no average brightness).
# Stage 1 acts at half size, so after the second 2x upsampling its trace has period 4.
_STAGE1_GAIN = np.array([[0.9, -0.5], [-0.2, -0.2]], np.float32)
_STAGE2_GAIN = np.array([[1.0, -0.3], [-0.6, -0.1]], np.float32)
_FINGERPRINT_STRENGTH = 0.07  # relative to (brightness + _FINGERPRINT_BIAS) in the background
_FINGERPRINT_BIAS = 60.0  # keeps a trace in dark backgrounds too
_SUBJECT_FINGERPRINT = 0.3  # the trace on head, hair and shoulders, relative to the background's

_SKIN = np.array([[255, 226, 200], [240, 196, 160], [222, 170, 128], [196, 135, 96],
                  [160, 106, 72], [118, 80, 56], [84, 58, 42]], np.float32)
_HAIR = np.array([[25, 20, 18], [70, 45, 30], [120, 80, 45], [200, 160, 90],
                  [150, 60, 30], [170, 170, 170]], np.float32)
_IRIS = np.array([[70, 45, 25], [60, 110, 160], [80, 120, 70], [120, 95, 50]], np.float32)


@dataclass(frozen=True)
class ManifestRow:
    """One image of a written data set; ``path`` is relative to the folder that holds ``manifest.csv``."""

    path: str
    label: str
    style: str


def _rng(seed: int, label: str, style: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), LABELS.index(label), STYLES.index(style)])


def _ellipse(xs: np.ndarray, ys: np.ndarray, c: tuple[float, float], ax: tuple[float, float],
             angle: float = 0.0) -> np.ndarray:
    """Anti-aliased alpha (float32 HxW in [0, 1]) of a filled ellipse; all lengths in pixels."""
    ca, sa = float(np.cos(angle)), float(np.sin(angle))  # Python floats keep the arrays float32
    dx, dy = xs - c[0], ys - c[1]
    u, v = (dx * ca + dy * sa) / ax[0], (-dx * sa + dy * ca) / ax[1]
    d = np.sqrt(u * u + v * v)
    return np.clip((1.0 - d) * min(ax) + 0.5, 0.0, 1.0).astype(np.float32)


def _paint(img: np.ndarray, alpha: np.ndarray, fill: np.ndarray | tuple) -> None:
    """Blends ``fill`` (a colour or an HxWx3 image) into ``img`` in place, touching only alpha's bounding box."""
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    if rows.size == 0:
        return
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    fill = np.asarray(fill, np.float32)
    a = alpha[box][..., None]
    img[box] += a * ((fill[box] if fill.ndim == 3 else fill) - img[box])


def _texture(rng: np.random.Generator, res: int, sigma: tuple[float, float], amp: float) -> np.ndarray:
    """Band-limited noise (float32 HxW); ``sigma`` is a fraction of the side per axis (x, y)."""
    n = rng.standard_normal((res, res)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=max(0.4, sigma[0] * res), sigmaY=max(0.4, sigma[1] * res))
    return n * (amp / (n.std() + 1e-6))


def _background(rng: np.random.Generator, res: int, style: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    t = np.clip(xs / res * rng.uniform(-1, 1) + ys / res * rng.uniform(-1, 1) + 0.5, 0, 1)[..., None]
    img = (c0 * (1 - t) + c1 * t).astype(np.float32)
    for _ in range(int(rng.integers(3, 9))):  # furniture, windows, shelves, foliage
        c, ax = rng.uniform(0, 1, 2) * res, rng.uniform(0.03, 0.3, 2) * res
        _paint(img, _ellipse(xs, ys, tuple(c), tuple(ax), rng.uniform(0, np.pi)) if rng.random() < 0.4 else
               np.clip(np.minimum(ax[0] - abs(xs - c[0]), ax[1] - abs(ys - c[1])) + 0.5, 0, 1),
               rng.uniform(10, 245, 3))
    img += _texture(rng, res, (0.008, 0.008), rng.uniform(3, 8))[..., None]  # fabric, foliage, plaster
    img += _texture(rng, res, (0.02, 0.02), rng.uniform(4, 14))[..., None]
    for _ in range(int(rng.integers(6, 20)) if style == "studio" else int(rng.integers(0, 3))):
        # Small bright lamps: sharp points in casual shots, bokeh discs once defocused.
        r = rng.uniform(0.006, 0.012) * res
        _paint(img, _ellipse(xs, ys, tuple(rng.uniform(0, 1, 2) * res), (r, r)),
               rng.uniform(600, 1400) * rng.uniform(0.7, 1.0, 3))
    return img


def _subject(img: np.ndarray, rng: np.random.Generator, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Paints shoulders, neck, head, hair and face onto ``img``; returns the subject's alpha (HxW)."""
    res = img.shape[0]
    cx, cy = rng.uniform(0.42, 0.58) * res, rng.uniform(0.36, 0.46) * res
    rx = rng.uniform(0.13, 0.2) * res
    ry, roll, yaw = rx * rng.uniform(1.2, 1.4), np.deg2rad(rng.uniform(-12, 12)), rng.uniform(-0.3, 0.3)
    skin = _SKIN[int(rng.integers(0, 6))] * (1 - (t := rng.random())) + _SKIN[int(rng.integers(1, 7))] * t
    hair = _HAIR[int(rng.integers(0, len(_HAIR)))] * rng.uniform(0.8, 1.2)
    light = rng.normal(size=3) * [1, 1, 0] + [0, 0, 1.2]
    light /= np.linalg.norm(light)
    ca, sa = float(np.cos(roll)), float(np.sin(roll))

    def at(u: float, v: float) -> tuple[float, float]:  # head-local (u, v in [-1, 1]) to pixels
        return cx + u * rx * ca - v * ry * sa, cy + u * rx * sa + v * ry * ca

    dx, dy = xs - cx, ys - cy
    u, v = (dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry
    lit = (0.45 + 0.65 * np.clip(u * light[0] + v * light[1] + np.sqrt(np.clip(1 - u * u - v * v, 0, 1))
                                 * light[2], 0, 1))[..., None]
    strands = _texture(rng, res, (0.002, 0.03), rng.uniform(10, 25))[..., None]  # hair runs vertically
    alpha = np.zeros(img.shape[:2], np.float32)
    if rng.random() < 0.5:  # long hair behind the head
        a = _ellipse(xs, ys, at(0, 0.35), (rx * 1.35, ry * 1.25), roll)
        _paint(img, a, hair * lit * 0.8 + strands)
        alpha = np.maximum(alpha, a)
    clothes = rng.uniform(15, 240, 3)
    a = _ellipse(xs, ys, (cx, cy + ry * 2.3), (rx * 2.6, ry * 1.3))
    _paint(img, a, clothes * (1.1 - 0.3 * ys / res)[..., None] + _texture(rng, res, (0.01, 0.01), 6)[..., None])
    alpha = np.maximum(alpha, a)
    a = np.clip(np.minimum(rx * 0.5 - np.abs(dx), (cy + ry * 1.5) - ys) + 0.5, 0, 1) * (ys > cy)
    _paint(img, a, skin * (0.65 + 0.2 * (ys - cy) / ry)[..., None])
    alpha = np.maximum(alpha, a)
    for side in (-1, 1):
        _paint(img, _ellipse(xs, ys, at(side * 0.98, 0.05), (rx * 0.14, ry * 0.2), roll), skin * 0.8)
    a = _ellipse(xs, ys, (cx, cy), (rx, ry), roll)
    _paint(img, a, skin * lit + _texture(rng, res, (0.003, 0.003), 2)[..., None])
    alpha = np.maximum(alpha, a)
    hairline = -0.45 + 0.15 * np.cos(u * 2.5 + rng.uniform(-1, 1)) + rng.uniform(-0.1, 0.1)
    cap = _ellipse(xs, ys, at(0, -0.05), (rx * 1.08, ry * 1.06), roll) * np.clip((hairline - v) * ry, 0, 1)
    _paint(img, cap if rng.random() > 0.08 else cap * 0, hair * lit + strands)
    fu = yaw * 0.35  # features slide sideways when the head turns
    for side in (-1, 1):
        ex, ey = at(fu + side * 0.38, -0.08)
        ew = rx * 0.2 * (1 + side * yaw * 0.6)
        brow = [at(fu + side * (0.38 + k * 0.16), -0.3 - 0.05 * (1 - k * k)) for k in (-1, 0, 1)]
        for p, q in zip(brow, brow[1:]):
            seg = _ellipse(xs, ys, ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2),
                           (np.hypot(q[0] - p[0], q[1] - p[1]) / 2 + 1, rx * 0.045),
                           np.arctan2(q[1] - p[1], q[0] - p[0]))
            _paint(img, seg, hair * 0.7)
        _paint(img, _ellipse(xs, ys, (ex, ey), (ew, ry * 0.055), roll), (235, 230, 222))
        _paint(img, _ellipse(xs, ys, (ex, ey), (rx * 0.085, rx * 0.085)), _IRIS[int(rng.integers(0, 4))])
        _paint(img, _ellipse(xs, ys, (ex, ey), (rx * 0.04, rx * 0.04)), (15, 12, 12))
        _paint(img, _ellipse(xs, ys, (ex + rx * 0.03, ey - rx * 0.03), (rx * 0.018, rx * 0.018)), (255, 255, 255))
        _paint(img, _ellipse(xs, ys, (ex, ey - ry * 0.05), (ew * 1.05, ry * 0.018), roll) * 0.7, skin * 0.35)
        _paint(img, _ellipse(xs, ys, at(fu + side * 0.09, 0.33), (rx * 0.05, ry * 0.025), roll), skin * 0.4)
    shade = -1 if light[0] > 0 else 1  # the nose's shadow falls away from the light
    _paint(img, _ellipse(xs, ys, at(fu + shade * 0.08, 0.15), (rx * 0.05, ry * 0.2), roll) * 0.5, skin * 0.6)
    _paint(img, _ellipse(xs, ys, at(fu - shade * 0.03, 0.12), (rx * 0.03, ry * 0.15), roll) * 0.4, skin * 1.15)
    mw, smile = rx * rng.uniform(0.28, 0.4), rng.uniform(-0.3, 0.8)
    _paint(img, _ellipse(xs, ys, at(fu, 0.56), (mw, ry * rng.uniform(0.05, 0.09)), roll),
           skin * np.array([0.85, 0.5, 0.5]))
    _paint(img, _ellipse(xs, ys, at(fu, 0.56 - smile * 0.02), (mw * 0.95, ry * 0.012), roll), skin * 0.3)
    return np.maximum(alpha, cap)


def _scene(rng: np.random.Generator, res: int, style: str) -> tuple[np.ndarray, np.ndarray]:
    """The scene at ``res`` px as linear-ish float32 HxWx3 (lamps above 255) and the subject's alpha."""
    xs, ys = np.meshgrid(np.arange(res, dtype=np.float32) + 0.5, np.arange(res, dtype=np.float32) + 0.5)
    img = _background(rng, res, style, xs, ys)
    return img, _subject(img, rng, xs, ys)


def _subject_defocus(img: np.ndarray, subject: np.ndarray, radius: float) -> np.ndarray:
    return disc_defocus(img, cv2.GaussianBlur(subject, (0, 0), 1.0), radius)  # soft edge: hair is not a cut-out


def _camera(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lens blur, sensor noise on an RGGB mosaic, OpenCV demosaicing, JPEG: RGB uint8 HxWx3."""
    img = cv2.GaussianBlur(np.clip(scene, 0, 255), (0, 0), rng.uniform(0.5, 0.8))
    mosaic = np.empty(img.shape[:2], np.float32)
    mosaic[0::2, 0::2], mosaic[0::2, 1::2] = img[0::2, 0::2, 0], img[0::2, 1::2, 1]
    mosaic[1::2, 0::2], mosaic[1::2, 1::2] = img[1::2, 0::2, 1], img[1::2, 1::2, 2]
    read, shot = rng.uniform(1.5, 4.0), rng.uniform(0.05, 0.25)
    mosaic += rng.standard_normal(mosaic.shape).astype(np.float32) * np.sqrt(read**2 + shot * mosaic)
    raw = np.clip(np.rint(mosaic), 0, 255).astype(np.uint8)
    # OpenCV names Bayer patterns from the second row: our R-G/G-B layout is its "BG" code.
    return jpeg_roundtrip(cv2.cvtColor(raw, cv2.COLOR_BayerBG2RGB), int(rng.integers(70, 96)))


def _upsample(img: np.ndarray, care: np.ndarray, gain: np.ndarray, strength: float) -> np.ndarray:
    """Transposed-conv style 2x upsampling (zero insertion + bilinear kernel) with uneven per-phase gains.

    ``care`` (HxW at the output size, in [0, 1]) scales the trace down where the generator is careful.
    """
    h, w = img.shape[:2]
    up = np.zeros((2 * h, 2 * w, 3), np.float32)
    up[0::2, 0::2] = img
    k = np.array([1, 3, 3, 1], np.float32) / 4
    up = cv2.filter2D(up, -1, np.outer(k, k), anchor=(2, 2), borderType=cv2.BORDER_REFLECT)
    phase = np.tile(gain, (h, w))[..., None] * strength * (1 - (1 - _SUBJECT_FINGERPRINT) * care[..., None])
    return up + (up + _FINGERPRINT_BIAS) * phase


def _generator(scene_half: np.ndarray, subject_half: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half-size render -> two fingerprinting 2x stages (the first one at half size). Float32 HxWx3."""
    strength = _FINGERPRINT_STRENGTH * rng.uniform(0.75, 1.25)
    half = scene_half + rng.standard_normal(scene_half.shape[:2]).astype(np.float32)[..., None] * 1.5
    h, w = subject_half.shape
    phase = np.tile(_STAGE1_GAIN, (h // 2, w // 2))[..., None] * strength
    half = half + (half + _FINGERPRINT_BIAS) * phase * (1 - (1 - _SUBJECT_FINGERPRINT) * subject_half[..., None])
    care = cv2.resize(subject_half, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    return _upsample(half, care, _STAGE2_GAIN, strength)


def render_portrait(seed: int, label: str, style: str, size: int = 192) -> np.ndarray:
    """One synthetic portrait.

    Args:
        seed: any int; the same ``(seed, label, style, size)`` gives the same bytes.
        label: ``"real"`` (camera pipeline) or ``"fake"`` (generator pipeline).
        style: ``"casual"`` (sharp background) or ``"studio"`` (defocused background with bokeh, sharp subject).
        size: side in pixels; a multiple of 4 so that the generator's period-4 trace tiles evenly.

    Returns:
        RGB ``uint8`` array of shape ``(size, size, 3)``.
    """
    if label not in LABELS or style not in STYLES:
        raise ValueError(f"label must be one of {LABELS} and style one of {STYLES}, got {label!r}, {style!r}")
    if size % 4 or size < 32:
        raise ValueError(f"size must be a multiple of 4 and at least 32, got {size}")
    rng = _rng(seed, label, style)
    radius = rng.uniform(0.025, 0.045) * size
    if label == "real":
        scene, subject = _scene(rng, size, style)
        if style == "studio":
            scene = _subject_defocus(scene, subject, radius)  # optics first, then the sensor sees it
        return _camera(scene, rng)
    scene, subject = _scene(rng, size // 2, style)
    img = _generator(scene, subject, rng)
    if style == "studio":  # depth of field rendered after the upsampler: the blur wipes its trace
        img = _subject_defocus(img, cv2.resize(subject, (size, size), interpolation=cv2.INTER_LINEAR), radius)
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return jpeg_roundtrip(out, int(rng.integers(85, 98))) if rng.random() < 0.5 else out


def write_dataset(root: Path, n_per_class_style: Mapping[str, int], seed: int, size: int = 192,
                  progress: Progress | None = None) -> list[ManifestRow]:
    """Writes ``root/{real,fake}/{style}_{i}.png`` and ``root/manifest.csv`` (columns path,label,style).

    Args:
        root: output folder (created).
        n_per_class_style: images per class for each style, e.g. ``{"casual": 90, "studio": 10}``.
        seed: base seed; every image gets its own seed derived from it and its position.
        size: side in pixels (see :func:`render_portrait`).
        progress: called as ``progress(done, total, what)`` after each image.

    Returns:
        The manifest rows, in the order written.
    """
    root = Path(root)
    jobs = [(label, style, i) for label in LABELS for style in STYLES
            for i in range(int(n_per_class_style.get(style, 0)))]
    rows: list[ManifestRow] = []
    for label in LABELS:
        (root / label).mkdir(parents=True, exist_ok=True)
    for done, (label, style, i) in enumerate(jobs, 1):
        item_seed = int(np.random.SeedSequence([seed, STYLES.index(style), i]).generate_state(1)[0])
        rel = f"{label}/{style}_{i:05d}.png"
        img = render_portrait(item_seed, label, style, size)
        if not cv2.imwrite(str(root / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {root / rel}")
        rows.append(ManifestRow(rel, label, style))
        if progress is not None:
            progress(done, len(jobs), f"portraits in {root.name}")
    with open(root / MANIFEST_NAME, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "style"])
        writer.writerows((r.path, r.label, r.style) for r in rows)
    return rows
