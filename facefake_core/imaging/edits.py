"""Image edits for counterfactual tests: change one property of a photo and leave the rest alone.

Every edit is a pure function ``RGB uint8 (H, W, 3) -> RGB uint8 (H, W, 3)`` (the package convention, see
:mod:`facefake_core.config`); the caller feeds the variants to the model and plots P(fake) against the value.
The background edits never touch the face region: its pixels come back byte-identical, and the feathered
transition lies wholly outside it. Each edit's identity value (blur sigma 0, sharpen amount 0, JPEG quality
100, rescale factor 1) returns an unchanged copy, so every sweep starts at the original photo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .focus import measure_focus
from .geometry import Box
from .photo import Photo

Region = Box | np.ndarray  # a face box, or a bool (H, W) mask of the pixels to keep

#: Gaussian sigma (px) of the blur that unsharp masking subtracts.
SHARPEN_SIGMA = 1.0


def _check(img: np.ndarray) -> None:
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}")


def _keep_mask(region: Region, shape: tuple[int, int]) -> np.ndarray:
    """The protected pixels, bool ``(H, W)``, from a box or a mask."""
    h, w = shape
    if isinstance(region, np.ndarray):
        if region.shape != (h, w):
            raise ValueError(f"mask shape {region.shape} does not match the image's {(h, w)}")
        return region.astype(bool)
    x0, y0, x1, y1 = (int(v) for v in region)
    keep = np.zeros((h, w), bool)
    keep[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
    return keep


def _outside_weight(keep: np.ndarray, feather: float) -> np.ndarray:
    """Weight of the edited image: 0 on ``keep``, rising to 1 over ``feather`` px outside it; float32 (H, W)."""
    if feather <= 0:
        return (~keep).astype(np.float32)
    # Distance to the nearest kept pixel: 0 inside the region, so the ramp lies wholly outside it.
    dist = cv2.distanceTransform((~keep).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(dist / feather, 0.0, 1.0).astype(np.float32)


def _composite(img: np.ndarray, edited: np.ndarray, keep: np.ndarray, feather: float) -> np.ndarray:
    """``edited`` outside the region, ``img`` inside it (exactly), feathered outwards."""
    alpha = _outside_weight(keep, feather)[..., None]
    out = img.astype(np.float32) * (1.0 - alpha) + edited.astype(np.float32) * alpha
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out[keep] = img[keep]  # the guarantee does not rest on float round-trips
    return out


def blur_background(img: np.ndarray, region: Region, sigma: float, feather: float = 0.0) -> np.ndarray:
    """Gaussian-blur everything outside the face region, as a wide aperture would.

    The blur is a normalised convolution of the background alone, so face colours do not bleed into it.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        region: face box ``(x0, y0, x1, y1)`` or bool ``(H, W)`` mask of the pixels to keep.
        sigma: Gaussian sigma in pixels; 0 returns a copy.
        feather: width in px of a transition outside the region; 0 (default) cuts at the region's edge, as a
            real subject's outline does.

    Returns:
        RGB ``uint8`` ``(H, W, 3)``; pixels in the region are byte-identical to ``img``.
    """
    _check(img)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return img.copy()
    keep = _keep_mask(region, img.shape[:2])
    bg = (~keep).astype(np.float32)
    num = cv2.GaussianBlur(img.astype(np.float32) * bg[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(bg, (0, 0), sigma)[..., None]
    # Deep inside a large region den is ~0; those pixels are overwritten by the original anyway.
    blurred = np.where(den > 1e-6, num / np.maximum(den, 1e-6), img.astype(np.float32))
    return _composite(img, blurred, keep, feather)


def sharpen_background(img: np.ndarray, region: Region, amount: float, feather: float = 0.0) -> np.ndarray:
    """Unsharp-mask everything outside the face region: ``img + amount * (img - blur(img))``.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        region: face box ``(x0, y0, x1, y1)`` or bool ``(H, W)`` mask of the pixels to keep.
        amount: strength; 0 returns a copy.
        feather: width in px of the transition outside the region.

    Returns:
        RGB ``uint8`` ``(H, W, 3)``; pixels in the region are byte-identical to ``img``.
    """
    _check(img)
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    if amount == 0:
        return img.copy()
    f = img.astype(np.float32)
    sharp = f + amount * (f - cv2.GaussianBlur(f, (0, 0), SHARPEN_SIGMA))
    return _composite(img, sharp, _keep_mask(region, img.shape[:2]), feather)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at ``quality`` and decode back; quality 100 means no re-encoding (a copy).

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        quality: 1..100.

    Returns:
        RGB ``uint8`` ``(H, W, 3)``.
    """
    _check(img)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if quality == 100:  # even q100 is lossy; the sweep's first point must be the original itself
        return img.copy()
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def disc_defocus(img: np.ndarray, keep: np.ndarray, radius: float) -> np.ndarray:
    """Narrow depth of field: a disc (bokeh) blur of ``img`` except where ``keep`` (HxW in [0, 1]) is 1.

    Works on float32 or uint8 HxWx3 and returns float32; ``radius`` is the disc's radius in pixels.
    """
    r = max(1, int(round(radius)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(np.float32)
    img = np.asarray(img, np.float32)
    blurred = cv2.filter2D(img, -1, disc / disc.sum(), borderType=cv2.BORDER_REFLECT)
    keep = keep[..., None]
    return img * keep + blurred * (1 - keep)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of an RGB uint8 HxWx3 image (OpenCV's libjpeg), at any quality (100 too; unlike
    :func:`jpeg`, which keeps the identity value exact for sweeps). The demo's data and training augmentation."""
    _, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def rescale(img: np.ndarray, factor: float) -> np.ndarray:
    """Downscale by ``factor`` (area averaging) and upscale back to the original size (bicubic).

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        factor: in ``(0, 1]``; 1 returns a copy.

    Returns:
        RGB ``uint8`` ``(H, W, 3)``, the same shape as ``img``.
    """
    _check(img)
    if not 0 < factor <= 1:
        raise ValueError(f"rescale factor must be in (0, 1], got {factor}")
    if factor == 1:
        return img.copy()
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur the whole photo (OpenCV, reflected borders); sigma 0 returns a copy.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        sigma: Gaussian sigma in pixels, >= 0.
    """
    _check(img)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    return img.copy() if sigma == 0 else cv2.GaussianBlur(img, (0, 0), float(sigma))


@dataclass(frozen=True)
class Variant:
    """One kind of edit: ``apply(img, value, region)``, its default sweep, identity value and axis label."""

    apply: Callable[[np.ndarray, float, Region | None], np.ndarray]
    values: tuple[float, ...]
    identity: float
    label: str
    needs_region: bool


VARIANTS: dict[str, Variant] = {
    "blur_background": Variant(lambda i, v, r: blur_background(i, r, v), (0, 1, 2, 4, 8), 0,
                               "background blur sigma (px)", True),
    "sharpen_background": Variant(lambda i, v, r: sharpen_background(i, r, v), (0, 0.5, 1, 2), 0,
                                  "background unsharp-mask amount", True),
    "jpeg": Variant(lambda i, v, r: jpeg(i, int(v)), (100, 95, 85, 75, 60, 40), 100, "JPEG quality", False),
    "rescale": Variant(lambda i, v, r: rescale(i, v), (1.0, 0.75, 0.5, 0.33), 1.0, "rescale factor", False),
    "blur": Variant(lambda i, v, r: gaussian_blur(i, v), (0, 1, 2, 4), 0, "blur sigma (px)", False),
}


def make_variants(img: np.ndarray, kind: str, values: Sequence[float] | None = None,
                  face_box: Region | None = None) -> list[tuple[float, np.ndarray]]:
    """Apply one kind of edit at each value of a sweep.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        kind: a key of :data:`VARIANTS`.
        values: the sweep; the kind's default when ``None``.
        face_box: face box or bool ``(H, W)`` mask; required by the background edits.

    Returns:
        ``[(value, edited RGB uint8 (H, W, 3)), ...]`` in the order of ``values``.
    """
    if kind not in VARIANTS:
        raise ValueError(f"unknown variant {kind!r}; choose from {sorted(VARIANTS)}")
    variant = VARIANTS[kind]
    if variant.needs_region and face_box is None:
        raise ValueError(f"variant {kind!r} needs a face_box (or mask) to protect")
    sweep = variant.values if values is None else tuple(values)
    return [(v, variant.apply(img, v, face_box)) for v in sweep]


def face_region(photo: Photo) -> Box:
    """The face box of the focus measures, else the photo's central half."""
    box = measure_focus(photo.pixels).face_box
    h, w = photo.pixels.shape[:2]
    return box if box is not None else (w // 4, h // 4, 3 * w // 4, 3 * h // 4)


def edit(photo: Photo, kind: str, value: float, region=None) -> Photo:
    """One edited copy of ``photo`` (a key of :data:`VARIANTS` at ``value``); the face region (found by the focus
    measures if not given) is left untouched by background edits. The copy's hash names the edit."""
    if kind not in VARIANTS:
        raise ValueError(f"unknown edit {kind!r}; choose one of {', '.join(VARIANTS)}")
    v = VARIANTS[kind]
    reg = (region if region is not None else face_region(photo)) if v.needs_region else None
    pixels = v.apply(photo.pixels, value, reg)
    return Photo(np.ascontiguousarray(pixels), f"{photo.name} [{kind}={value}]", photo.sha256 + f":{kind}={value}")
