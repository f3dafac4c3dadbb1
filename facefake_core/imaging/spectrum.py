"""Power spectra of an image's high-pass residual, whole or by region, and their radial profiles.

Images follow the package convention (see :mod:`facefake_core.config`): RGB ``uint8`` ``(H, W, 3)``; boxes
``(x0, y0, x1, y1)``, ``x1``/``y1`` exclusive. The residual is luminance minus its Gaussian blur (sigma
:data:`RESIDUAL_SIGMA`), computed on the *whole* image so that a region's crop edges add nothing. Each region
is tapered by a 2-D Hann window (optional) before the FFT, to keep its edges from leaking power into every
frequency.

Regions:

* ``"image"``: the whole frame.
* ``"face"``: the face box cropped out of the residual.
* ``"background"``: the whole frame with the face box set to zero. The residual has zero mean, so zero is
  its mean fill; the box's edges still spread a little power (a sinc), much less than filling the raw image.

Power is normalised by the sum of the squared window (Welch's scaling), so that regions of different sizes
give comparable levels; a radial profile is binned over the *normalised* frequency
``sqrt(fx^2 + fy^2)`` in cycles per pixel from 0 to 0.5 (each axis with its own resolution), so profiles of
any size share one axis. Frequencies beyond 0.5 (the corners) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

#: Gaussian sigma (px) of the blur subtracted to get the high-pass residual.
RESIDUAL_SIGMA = 1.5
#: Bins of a radial profile between 0 and 0.5 cycles/px.
N_BINS = 48
#: Added to power before taking log10, so empty frequencies stay finite.
LOG_EPS = 1e-10
REGIONS = ("image", "face", "background")


@dataclass(frozen=True)
class Spectrum:
    """A 2-D log-power spectrum, fftshifted (zero frequency in the middle).

    ``log_power``: float32 ``(h, w)``, log10 of power; ``freq_y`` / ``freq_x``: float32 ``(h,)`` / ``(w,)``,
    the frequency of each row / column in cycles per pixel, from -0.5 upwards.
    """

    log_power: np.ndarray
    freq_y: np.ndarray
    freq_x: np.ndarray


@dataclass(frozen=True)
class RadialProfile:
    """Azimuthal average of power: ``freqs`` (bin centres, cycles/px) and ``log_power`` (log10), float32 ``(n,)``."""

    freqs: np.ndarray
    log_power: np.ndarray


@dataclass(frozen=True)
class ProfileStats:
    """Mean and standard deviation of many radial profiles on the common axis ``freqs`` (float32 ``(n,)``)."""

    freqs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: int


def highpass_residual(img: np.ndarray, sigma: float = RESIDUAL_SIGMA) -> np.ndarray:
    """Luminance minus its Gaussian blur.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)`` (a ``(H, W)`` grey image is accepted too).
        sigma: Gaussian sigma in pixels.

    Returns:
        float32 ``(H, W)``, zero-mean where the image is smooth.
    """
    grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    g = grey.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _region(residual: np.ndarray, region: str, face_box: tuple[int, int, int, int] | None,
            window: bool) -> tuple[np.ndarray, np.ndarray]:
    """The residual samples of ``region`` and their taper (same shape)."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    if region != "image" and face_box is None:
        raise ValueError(f"region {region!r} needs a face_box")
    h, w = residual.shape
    if region == "face":
        x0, y0, x1, y1 = face_box
        data = residual[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
        if data.size == 0:
            raise ValueError(f"face_box {face_box} lies outside the {w}x{h} image")
    else:
        data = residual
    taper = np.outer(np.hanning(data.shape[0]), np.hanning(data.shape[1])) if window else np.ones(data.shape)
    if region == "background":
        x0, y0, x1, y1 = face_box
        taper = taper.copy()
        taper[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0.0
    if min(data.shape) < 2 or not taper.any():
        raise ValueError(f"region {region!r} has no pixels to analyse")
    return data, taper


def _power(img: np.ndarray, region: str, face_box: tuple[int, int, int, int] | None, window: bool,
           sigma: float) -> np.ndarray:
    """Linear power of the region's tapered residual, fftshifted, Welch-normalised; float64 2-D."""
    data, taper = _region(highpass_residual(img, sigma), region, face_box, window)
    spec = np.fft.fft2(data * taper)
    return np.fft.fftshift(np.abs(spec) ** 2) / float((taper**2).sum())


def log_power_spectrum(img: np.ndarray, region: str = "image", face_box: tuple[int, int, int, int] | None = None,
                       window: bool = True, sigma: float = RESIDUAL_SIGMA) -> Spectrum:
    """2-D log-power spectrum of the high-pass residual of a region.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        region: ``"image"``, ``"face"`` or ``"background"`` (see the module docstring).
        face_box: ``(x0, y0, x1, y1)``; needed for ``"face"`` and ``"background"``.
        window: taper the region with a 2-D Hann window.
        sigma: Gaussian sigma of the residual.

    Returns:
        :class:`Spectrum` whose ``log_power`` has the region's shape.
    """
    power = _power(img, region, face_box, window, sigma)
    fy = np.fft.fftshift(np.fft.fftfreq(power.shape[0])).astype(np.float32)
    fx = np.fft.fftshift(np.fft.fftfreq(power.shape[1])).astype(np.float32)
    return Spectrum(np.log10(power + LOG_EPS).astype(np.float32), fy, fx)


def radial_bins(n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges ``(n_bins + 1,)`` and centres ``(n_bins,)`` over 0..0.5 cycles/px, float64."""
    edges = np.linspace(0.0, 0.5, n_bins + 1)
    return edges, (edges[:-1] + edges[1:]) / 2


def _radial_average(power: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean power per radial bin of an fftshifted spectrum; bins no sample falls in are interpolated."""
    fy = np.fft.fftshift(np.fft.fftfreq(power.shape[0]))
    fx = np.fft.fftshift(np.fft.fftfreq(power.shape[1]))
    radius = np.hypot(fy[:, None], fx[None, :]).ravel()
    edges, centres = radial_bins(n_bins)
    keep = radius <= 0.5
    idx = np.clip(np.digitize(radius[keep], edges) - 1, 0, n_bins - 1)
    sums = np.bincount(idx, weights=power.ravel()[keep], minlength=n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    filled = counts > 0
    # A small region has a coarse frequency grid: some narrow bins hold no sample, so fill them from their
    # neighbours rather than leave holes in a plotted or averaged curve.
    mean = np.interp(centres, centres[filled], sums[filled] / counts[filled])
    return centres, mean


def radial_profile(img: np.ndarray, region: str = "image", face_box: tuple[int, int, int, int] | None = None,
                   window: bool = True, n_bins: int = N_BINS, sigma: float = RESIDUAL_SIGMA) -> RadialProfile:
    """Azimuthally averaged power of the residual over normalised frequency 0..0.5 cycles/px.

    Args:
        img: photo, RGB ``uint8`` ``(H, W, 3)``.
        region: ``"image"``, ``"face"`` or ``"background"``.
        face_box: ``(x0, y0, x1, y1)``; needed for ``"face"`` and ``"background"``.
        window: taper the region with a 2-D Hann window.
        n_bins: number of frequency bins (the axis is the same for any image size).
        sigma: Gaussian sigma of the residual.

    Returns:
        :class:`RadialProfile`; power is averaged in linear units, then log10'd.
    """
    centres, mean = _radial_average(_power(img, region, face_box, window, sigma), n_bins)
    return RadialProfile(centres.astype(np.float32), np.log10(mean + LOG_EPS).astype(np.float32))


def mean_profile(profiles: Iterable[RadialProfile]) -> ProfileStats:
    """Per-bin mean and standard deviation of log-power profiles (e.g. one class of a hard set).

    Args:
        profiles: :class:`RadialProfile` objects computed with the same ``n_bins``.

    Returns:
        :class:`ProfileStats` with float32 ``(n_bins,)`` arrays.
    """
    items = list(profiles)
    if not items:
        raise ValueError("mean_profile needs at least one profile")
    freqs = items[0].freqs
    if any(p.freqs.shape != freqs.shape for p in items):
        raise ValueError("profiles have different numbers of bins; compute them with the same n_bins")
    stack = np.stack([p.log_power for p in items]).astype(np.float64)
    return ProfileStats(freqs, stack.mean(0).astype(np.float32), stack.std(0).astype(np.float32), len(items))


def mean_image_profile(images: Iterable[np.ndarray], region: str = "image",
                       face_boxes: Iterable[tuple[int, int, int, int] | None] | None = None,
                       window: bool = True, n_bins: int = N_BINS) -> ProfileStats:
    """Mean and std of the radial profiles of many images of any sizes.

    Args:
        images: photos, RGB ``uint8`` ``(H, W, 3)``.
        region: ``"image"``, ``"face"`` or ``"background"``.
        face_boxes: one box (or ``None`` for ``"image"``) per image, in the same order.
        window: taper each region with a 2-D Hann window.
        n_bins: number of frequency bins.

    Returns:
        :class:`ProfileStats` on the common axis 0..0.5 cycles/px.
    """
    imgs = list(images)
    boxes = list(face_boxes) if face_boxes is not None else [None] * len(imgs)
    if len(boxes) != len(imgs):
        raise ValueError(f"{len(imgs)} images but {len(boxes)} face boxes")
    return mean_profile(radial_profile(i, region, b, window, n_bins) for i, b in zip(imgs, boxes))
