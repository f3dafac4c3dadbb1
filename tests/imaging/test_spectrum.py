"""Tests of facefake_core.spectrum on patterns whose spectra are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from facefake_core.imaging import RadialProfile, log_power_spectrum, mean_image_profile, radial_profile
from facefake_core.imaging.spectrum import mean_profile, radial_bins

BIN = 0.5 / 48  # width of one default radial bin, cycles/px


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def stripes(h: int, w: int, period: float, amp: float = 60.0) -> np.ndarray:
    """Vertical sinusoidal stripes: all power at fx = +-1/period, fy = 0."""
    x = np.arange(w)[None, :].repeat(h, 0)
    return _rgb(128 + amp * np.sin(2 * np.pi * x / period))


def checkerboard(h: int, w: int, amp: float = 40.0) -> np.ndarray:
    """2x2-pixel squares, period 4 in x and in y. [1, 1, -1, -1] has DFT power only at +-1/4 (its third
    harmonic aliases onto -1/4), so the product's power sits at (+-1/4, +-1/4): radius sqrt(2)/4."""
    y, x = np.mgrid[:h, :w]
    sign = np.where((x // 2 + y // 2) % 2 == 0, 1.0, -1.0)
    return _rgb(128 + amp * sign)


def _peak(p: RadialProfile) -> float:
    return float(p.freqs[int(np.argmax(p.log_power))])


@pytest.mark.parametrize("size", [(256, 256), (120, 200), (64, 64)])
def test_period_4_stripes_peak_at_quarter_cycle(size: tuple[int, int]) -> None:
    p = radial_profile(stripes(*size, period=4))
    assert abs(_peak(p) - 0.25) <= BIN
    assert p.freqs.shape == (48,) and p.log_power.dtype == np.float32


def test_period_4_checkerboard_peaks_at_its_diagonal_frequency() -> None:
    p = radial_profile(checkerboard(256, 256))
    assert abs(_peak(p) - np.sqrt(2) / 4) <= BIN


def test_2d_spectrum_peak_sits_at_the_stripe_frequency() -> None:
    s = log_power_spectrum(stripes(128, 128, period=8))
    iy, ix = np.unravel_index(int(np.argmax(s.log_power)), s.log_power.shape)
    assert s.freq_y[iy] == 0.0 and abs(s.freq_x[ix]) == 0.125
    assert s.log_power.shape == (128, 128) and s.freq_x[0] == -0.5


def test_face_and_background_regions_separate_a_local_pattern() -> None:
    img = np.full((256, 256, 3), 128, np.uint8)
    box = (64, 80, 192, 208)
    img[80:208, 64:192] = checkerboard(128, 128)
    face = radial_profile(img, "face", box)
    background = radial_profile(img, "background", box)
    assert abs(_peak(face) - np.sqrt(2) / 4) <= BIN
    k = int(np.argmin(np.abs(face.freqs - np.sqrt(2) / 4)))
    assert face.log_power[k] - background.log_power[k] > 3  # a thousand times more power in the face
    assert np.array_equal(face.freqs, background.freqs)


def test_sizes_share_one_axis_and_welch_scaling_keeps_levels_comparable() -> None:
    big = radial_profile(stripes(256, 256, period=4))
    small = radial_profile(stripes(80, 96, period=4))
    assert np.array_equal(big.freqs, small.freqs)
    assert np.array_equal(big.freqs, radial_bins()[1].astype(np.float32))
    assert np.all(np.isfinite(small.log_power))
    # Same sinusoid: same total power per pixel, so the peak bins agree within a factor of ~3.
    assert abs(big.log_power.max() - small.log_power.max()) < 0.5


def test_mean_profile_matches_hand_mean_and_std() -> None:
    freqs = np.array([0.1, 0.3], np.float32)
    a = RadialProfile(freqs, np.array([1.0, 2.0], np.float32))
    b = RadialProfile(freqs, np.array([3.0, 6.0], np.float32))
    stats = mean_profile([a, b])
    assert stats.count == 2
    np.testing.assert_allclose(stats.mean, [2.0, 4.0])
    np.testing.assert_allclose(stats.std, [1.0, 2.0])
    with pytest.raises(ValueError):
        mean_profile([])


def test_mean_image_profile_over_mixed_sizes_and_boxes() -> None:
    imgs = [checkerboard(128, 128), checkerboard(96, 160)]
    stats = mean_image_profile(imgs, "face", [(16, 16, 112, 112), (20, 10, 140, 90)])
    assert stats.count == 2 and stats.mean.shape == stats.std.shape == (48,)
    assert abs(float(stats.freqs[int(np.argmax(stats.mean))]) - np.sqrt(2) / 4) <= BIN


def test_region_errors() -> None:
    img = stripes(32, 32, period=4)
    with pytest.raises(ValueError):
        radial_profile(img, "face")
    with pytest.raises(ValueError):
        radial_profile(img, "mouth", (0, 0, 8, 8))
    with pytest.raises(ValueError):
        radial_profile(img, "background", (0, 0, 32, 32))
