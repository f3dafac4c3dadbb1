"""Tests of facefake_core.counterfactual: the face region stays byte-identical, identity values change nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefake_core.imaging import VARIANTS, blur_background, jpeg, make_variants, rescale, sharpen_background

BOX = (40, 30, 100, 110)


@pytest.fixture
def img() -> np.ndarray:
    """Random RGB noise: every pixel differs from its neighbours, so any blur or sharpening shows."""
    return np.random.default_rng(0).integers(0, 256, (128, 144, 3), dtype=np.uint8)


def _outside(a: np.ndarray) -> np.ndarray:
    keep = np.ones(a.shape[:2], bool)
    keep[BOX[1]:BOX[3], BOX[0]:BOX[2]] = False
    return a[keep]


@pytest.mark.parametrize("sigma", [1, 2, 4, 8])
def test_blur_background_keeps_face_bytes_and_changes_the_rest(img: np.ndarray, sigma: float) -> None:
    out = blur_background(img, BOX, sigma)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[30:110, 40:100], img[30:110, 40:100])
    diff = np.abs(_outside(out).astype(int) - _outside(img).astype(int))
    assert diff.mean() > 20  # uniform noise has mean |x - 127.5| ~ 64; a blur pulls it towards the mean


@pytest.mark.parametrize("amount", [0.5, 1, 2])
def test_sharpen_background_keeps_face_bytes_and_changes_the_rest(img: np.ndarray, amount: float) -> None:
    smooth = cv2.GaussianBlur(img, (0, 0), 2)  # room for sharpening to show without saturating
    out = sharpen_background(smooth, BOX, amount)
    assert np.array_equal(out[30:110, 40:100], smooth[30:110, 40:100])
    assert (_outside(out) != _outside(smooth)).mean() > 0.5


def test_mask_region_is_kept_exactly(img: np.ndarray) -> None:
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.ellipse(mask, (70, 70), (30, 40), 0, 0, 360, 1, -1)
    keep = mask.astype(bool)
    for out in (blur_background(img, keep, 4), blur_background(img, keep, 4, feather=5),
                sharpen_background(img, keep, 1.0, feather=3)):
        assert np.array_equal(out[keep], img[keep])
        assert not np.array_equal(out[~keep], img[~keep])


def test_feather_ramps_outside_the_box_only(img: np.ndarray) -> None:
    hard, soft = blur_background(img, BOX, 4), blur_background(img, BOX, 4, feather=6)
    assert np.array_equal(soft[30:110, 40:100], img[30:110, 40:100])
    # One pixel left of the box the weight is 1/6: closer to the original than the hard cut is.
    col = slice(30, 110), 39
    assert np.abs(soft[col].astype(int) - img[col]).mean() < np.abs(hard[col].astype(int) - img[col]).mean()
    assert np.array_equal(soft[:, :30], hard[:, :30])  # beyond the ramp both are the blurred background


def test_blurred_background_takes_no_face_colour() -> None:
    flat = np.full((80, 80, 3), 20, np.uint8)
    flat[30:50, 30:50] = 250
    out = blur_background(flat, (30, 30, 50, 50), 6)
    outside = np.ones((80, 80), bool)
    outside[30:50, 30:50] = False
    assert np.abs(out[outside].astype(int) - 20).max() <= 1  # a flat background blurred is still flat


def test_identity_values_return_the_original(img: np.ndarray) -> None:
    for kind, variant in VARIANTS.items():
        value, out = make_variants(img, kind, face_box=BOX)[0]
        assert value == variant.identity
        assert np.array_equal(out, img) and out is not img
    assert np.array_equal(blur_background(img, BOX, 0), img)
    assert np.array_equal(sharpen_background(img, BOX, 0), img)
    assert np.array_equal(jpeg(img, 100), img)
    assert np.array_equal(rescale(img, 1.0), img)


@pytest.mark.parametrize("quality", [95, 60, 40])
def test_jpeg_keeps_shape_and_dtype(img: np.ndarray, quality: int) -> None:
    out = jpeg(img, quality)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


@pytest.mark.parametrize("factor", [0.75, 0.5, 0.33])
def test_rescale_keeps_shape_and_dtype(img: np.ndarray, factor: float) -> None:
    out = rescale(img, factor)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


def test_jpeg_round_trip_keeps_channel_order() -> None:
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220
    out = jpeg(red, 90)
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 20


def test_make_variants_sweeps_and_errors(img: np.ndarray) -> None:
    got = make_variants(img, "jpeg", [90, 50])
    assert [v for v, _ in got] == [90, 50]
    assert len(make_variants(img, "blur_background", face_box=BOX)) == len(VARIANTS["blur_background"].values)
    with pytest.raises(ValueError):
        make_variants(img, "posterize")
    with pytest.raises(ValueError):
        make_variants(img, "sharpen_background")
    with pytest.raises(ValueError):
        rescale(img, 1.5)
    with pytest.raises(ValueError):
        jpeg(img, 0)
