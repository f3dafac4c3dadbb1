"""Tests of facefake_core.focus on drawn portraits (a sharp textured face on a sharp or blurred background) and on
the offline demo's synthetic portraits."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from conftest import dof_photo
from facefake_core.demo import LABELS, render_portrait
from facefake_core.imaging import (
    FocusMeasures, cam_in_bokeh, defocus_mask, focus, focus_overlay, measure_focus, sharpness_map,
)
from facefake_core.imaging.render import DEFOCUS_TINT, FACE_COLOUR, SUBJECT_COLOUR


def _texture(rng: np.random.Generator, h: int, w: int, amp: float, scale: float) -> np.ndarray:
    t = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), scale)
    return t / (t.std() + 1e-6) * amp


def portrait(seed: int = 0, size: int = 256, sigma: float = 0.0, noise: float = 0.0,
             quality: int | None = None, features: bool = True) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A schematic face (textured ellipse, optional eyes and mouth) on a background of textured shapes.

    The background alone is blurred by ``sigma``; then sensor noise and JPEG apply to the whole frame.
    Returns the RGB uint8 image and the face ellipse's bounding box.
    """
    rng = np.random.default_rng(seed)
    bg = np.zeros((size, size, 3), np.float32) + rng.uniform(60, 180, 3)
    for _ in range(25):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y, r = int(rng.integers(0, size)), int(rng.integers(0, size)), int(rng.integers(size // 30, size // 6))
        if rng.random() < 0.5:
            cv2.circle(bg, (x, y), r, colour, -1)
        else:
            cv2.rectangle(bg, (x, y), (x + r, y + r), colour, -1)
    bg += _texture(rng, size, size, 30, 1.0)[..., None]
    face = np.zeros_like(bg) + np.array([200, 160, 130], np.float32)
    face += _texture(rng, size, size, 15, 0.8)[..., None]
    cx, cy, ax, ay = size // 2, size // 2, int(size * 0.2), int(size * 0.28)
    if features:
        for side in (-1, 1):
            cv2.ellipse(face, (cx + side * ax // 2, cy - ay // 4), (ax // 5, ay // 10), 0, 0, 360, (40, 30, 30), -1)
        cv2.ellipse(face, (cx, cy + ay // 2), (ax // 2, ay // 10), 0, 0, 360, (120, 40, 40), -1)
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 255, -1)
    if sigma > 0:
        bg = cv2.GaussianBlur(bg, (0, 0), sigma)
    img = np.where(mask[..., None] > 0, face, bg)
    if noise > 0:
        img = img + rng.normal(0, noise, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if quality is not None:
        _, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return img, (cx - ax, cy - ay, cx + ax + 1, cy + ay + 1)


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over the area of ``b``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0) / ((b[2] - b[0]) * (b[3] - b[1]))


@pytest.fixture
def no_cascade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(focus, "detect_face", lambda grey: None)


CONDITIONS = [(0.0, None), (2.0, 95), (4.0, 85)]  # (noise sigma in grey levels, JPEG quality)


@pytest.mark.parametrize("noise,quality", CONDITIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_dof_score_rises_and_background_sharpness_falls_with_blur(seed: int, noise: float, quality: int | None) -> None:
    """A background blurred by sigma 0 or 1 px (of 256) is still as detailed as an in-focus edge: both sides are
    capped there, so the score is 0 for both (and may dip by the face's own shortfall). From sigma 2 px on, it
    rises strictly."""
    ms = [measure_focus(portrait(seed, sigma=s, noise=noise, quality=quality)[0]) for s in (0, 1, 2, 4, 8)]
    scores = [m.dof_score for m in ms]
    bg = [m.background_sharpness for m in ms]
    assert scores[0] == scores[1] == 0.0 and bg[0] == bg[1] == focus.IN_FOCUS_DETAIL, (scores, bg)
    assert all(a < b for a, b in zip(scores[2:], scores[3:])) and abs(scores[2]) < 0.05, scores
    assert all(a >= b for a, b in zip(bg, bg[1:])) and bg[2] > bg[3] > bg[4], bg
    assert all(a <= b for a, b in zip([m.defocus_fraction for m in ms], [m.defocus_fraction for m in ms][1:]))


@pytest.mark.parametrize("noise,quality", CONDITIONS + [(3.0, 90)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_narrow_dof_off_for_sharp_background_on_from_sigma_6(seed: int, noise: float, quality: int | None) -> None:
    """The drawn face is a close-up (about 100 px wide of 256): a background blur of sigma 6 px is 4.5 px on the
    192 px working copy, past the rule's 1.25 px once pooled."""
    assert not measure_focus(portrait(seed, sigma=0, noise=noise, quality=quality)[0]).narrow_dof
    for sigma in (6, 8, 12):
        m = measure_focus(portrait(seed, sigma=sigma, noise=noise, quality=quality)[0])
        assert m.narrow_dof, (sigma, m)
        assert m.dof_score >= focus.NARROW_DOF_THRESHOLD
        # Outside the close-up's in-focus box, its margin and the band below it, the frame is defocused.
        assert m.defocus_fraction > 0.3


#: Sizes (longest side, px) a user's set comes in: the Kaggle 140k set's 256 px, FFHQ's 1024 px, phone photos.
SIZES = (192, 256, 384, 768, 1024, 2048)


def _resized(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` resized so that its longest side is ``side``: INTER_AREA down, bicubic up (as an image editor does)."""
    h, w = img.shape[:2]
    f = side / max(h, w)
    return cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_verdict_at_every_size_for_a_scene_and_its_blurred_twin(seed: int) -> None:
    """The same photo resized from 192 to 2048 px gets one narrow_dof verdict (the right one: the twin's background
    is blurred by sigma 12 px at 512 px, 4% of the face's width), and dof_score moves by at most 0.05 (issue 15)."""
    for sigma, narrow in ((0, False), (12, True)):
        img = portrait(seed, size=512, sigma=sigma, noise=3, quality=90)[0]
        ms = [measure_focus(_resized(img, side)) for side in SIZES]
        scores = [m.dof_score for m in ms]
        assert [m.narrow_dof for m in ms] == [narrow] * len(SIZES), scores
        assert max(scores) - min(scores) <= 0.05, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_verdict_at_every_size_for_the_shared_dof_fixture(seed: int) -> None:
    """conftest's dof_photo (no face for the cascade as a rule: the sharpness fallback) drawn at 640x480 and resized:
    its textured twin is sharp and its smooth twin narrow at every size, and dof_score moves by at most 0.05."""
    for sharp in (True, False):
        ms = [measure_focus(_resized(dof_photo(seed, sharp, 640, 480), side)) for side in SIZES]
        scores = [m.dof_score for m in ms]
        assert [m.narrow_dof for m in ms] == [not sharp] * len(SIZES), scores
        assert max(scores) - min(scores) <= 0.05, scores


@pytest.mark.parametrize("style", ["studio", "casual"])
def test_demo_portraits_keep_their_score_at_every_size(style: str) -> None:
    """Four demo portraits per style (two fakes, two reals; seeds outside the demo's hard set), rendered at 768 px and
    resized from 192 to 2048 px: one verdict each (studio backgrounds are disc-defocused, casual ones sharp), and
    dof_score within 0.05. Among the Haar cascade's answers on these, some flip with the size (seed 10004's real)."""
    for label in LABELS:
        for seed in (10003, 10004):
            img = render_portrait(seed, label, style, 768)
            scores = [measure_focus(_resized(img, side)).dof_score for side in SIZES]
            flags = [s >= focus.NARROW_DOF_THRESHOLD for s in scores]
            assert flags == [style == "studio"] * len(SIZES), (label, seed, scores)
            assert max(scores) - min(scores) <= 0.05, (label, seed, scores)


@pytest.mark.parametrize("size", [192, 384])
@pytest.mark.parametrize("label", LABELS)
def test_demo_portraits_flag_studio_and_spare_casual(label: str, size: int) -> None:
    """The issue's acceptance rates on the offline demo's own images, rendered at two sizes (the demo's textures
    and blurs are fractions of the frame, so a 384 px render is the same kind of photo with more pixels): at least
    90% of studio portraits (disc-defocused background) are flagged, at most 10% of casual ones, for either label."""
    seeds = range(500, 520)
    flagged = {style: sum(measure_focus(render_portrait(s, label, style, size)).narrow_dof for s in seeds)
               for style in ("studio", "casual")}
    assert flagged["studio"] >= 0.9 * len(seeds), flagged
    assert flagged["casual"] <= 0.1 * len(seeds), flagged


def test_rule_is_the_documented_threshold_on_the_log_ratio() -> None:
    m = measure_focus(portrait(0, sigma=4, noise=3, quality=90)[0])
    assert m.dof_score == pytest.approx(np.log10(m.face_sharpness / m.background_sharpness))
    assert m.sharpness_ratio == pytest.approx(m.face_sharpness / m.background_sharpness)
    assert focus.NARROW_DOF_THRESHOLD == pytest.approx(-np.log10(focus.DEFOCUS_LEVEL))
    assert m.face_hf_energy > m.background_hf_energy


def test_cascade_finds_the_drawn_face() -> None:
    img, box = portrait(0, sigma=0, noise=3, quality=90)
    m = measure_focus(img)
    assert m.face_source == "cascade"
    assert _overlap(m.face_box, box) > 0.8


def test_cascade_box_is_used_when_the_detector_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(focus, "detect_face", lambda grey: (10, 20, 60, 90))
    m = measure_focus(portrait(3, sigma=4, features=False)[0])
    assert (m.face_source, m.face_box) == ("cascade", (10, 20, 60, 90))


@pytest.mark.usefixtures("no_cascade")
def test_sharpness_fallback_boxes_the_sharp_face() -> None:
    img, box = portrait(1, sigma=4, noise=3, quality=90, features=False)
    m = measure_focus(img)
    assert m.face_source == "sharpness"
    assert _overlap(m.face_box, box) > 0.8 and _overlap(box, m.face_box) > 0.5
    assert m.narrow_dof


@pytest.mark.usefixtures("no_cascade")
def test_sharpness_fallback_keeps_sharp_background_wide() -> None:
    m = measure_focus(portrait(1, sigma=0, noise=3, quality=90, features=False)[0])
    assert m.face_source == "sharpness" and not m.narrow_dof


def test_flat_image_has_no_face_and_no_narrow_dof() -> None:
    m = measure_focus(np.full((128, 160, 3), 120, np.uint8))
    assert (m.face_source, m.face_box, m.narrow_dof, m.defocus_fraction) == ("none", None, False, 0.0)
    assert not defocus_mask(m).any()
    assert cam_in_bokeh(np.ones((128, 160), np.float32), m) == {"bokeh_share": 0.0, "face_share": 0.0}


def test_to_dict_is_json_safe_and_complete() -> None:
    m = measure_focus(portrait(0, sigma=4)[0])
    d = json.loads(json.dumps(m.to_dict()))
    expected = {"face_box", "face_source", "face_sharpness", "background_sharpness", "sharpness_ratio",
                "face_hf_energy", "background_hf_energy", "defocus_fraction", "dof_score", "narrow_dof"}
    assert expected <= set(d) and "block_map" not in d
    assert d["narrow_dof"] is True and len(d["face_box"]) == 4


def test_from_dict_rebuilds_the_measures_exactly() -> None:
    img = portrait(0, sigma=4)[0]
    m = measure_focus(img)
    back = FocusMeasures.from_dict(json.loads(json.dumps(m.to_dict())), m.block_map.copy())
    assert back == m and np.array_equal(back.block_map, m.block_map)
    assert isinstance(back.face_box, tuple) and isinstance(back.image_shape, tuple)
    heat = np.random.default_rng(0).random(img.shape[:2]).astype(np.float32)
    assert cam_in_bokeh(heat, back) == cam_in_bokeh(heat, m)


def test_sharpness_map_and_defocus_mask_locate_the_blur() -> None:
    img, (x0, y0, x1, y1) = portrait(2, sigma=5, noise=3)
    smap = sharpness_map(img)
    side = round(focus.WORK_SIZE / focus.BLOCK)  # the working copy's longest side, in BLOCK px blocks
    assert smap.dtype == np.float32 and smap.shape == (side, side) and side >= 8
    assert 0.0 <= smap.min() and smap.max() <= 1.0
    mask = defocus_mask(img)
    assert mask.shape == (256, 256) and mask.dtype == bool
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    assert not mask[cy - 10:cy + 10, cx - 10:cx + 10].any()  # the face centre is in focus
    assert mask[:16, :16].mean() > 0.5 or mask[-16:, -16:].mean() > 0.5
    assert defocus_mask(img, (64, 64)).shape == (64, 64)


def test_large_photo_box_maps_back_to_original_pixels() -> None:
    img, box = portrait(0, size=1024, sigma=24, noise=3, quality=90)  # sigma 6 px at 256 px: 4% of the face
    m = measure_focus(img)
    assert m.image_shape == (1024, 1024) and m.narrow_dof
    assert _overlap(m.face_box, box) > 0.8


def _hand_measures() -> FocusMeasures:
    """64x64 photo, 4x4 blocks: the left half defocused (0), the right half sharp (1); face box on the right."""
    block_map = np.zeros((4, 4), np.float32)
    block_map[:, 2:] = 1.0
    return FocusMeasures((40, 8, 56, 24), "cascade", 10.0, 1.0, 10.0, 1.0, 1.0, 0.5, 1.0, True, 1.0, (64, 64),
                         block_map)


def test_cam_in_bokeh_matches_hand_computed_shares() -> None:
    heat = np.zeros((64, 64), np.float32)
    heat[:, :16] = 1.0  # 64 * 16 = 1024 on the defocused half
    heat[8:24, 40:56] = 0.5  # 16 * 16 * 0.5 = 128 on the face box
    heat[40:48, 32:40] = 0.25  # 8 * 8 * 0.25 = 16 on sharp background
    shares = cam_in_bokeh(heat, _hand_measures())
    assert shares["bokeh_share"] == pytest.approx(1024 / 1168)
    assert shares["face_share"] == pytest.approx(128 / 1168)
    assert defocus_mask(_hand_measures()).sum() == 64 * 32


def test_cam_in_bokeh_on_a_photo_and_shape_check() -> None:
    img, box = portrait(0, sigma=6)
    corner = np.zeros((256, 256), np.float32)
    corner[:12, :12] = 1.0
    face = np.zeros((256, 256), np.float32)
    face[box[1] + 20:box[3] - 20, box[0] + 20:box[2] - 20] = 1.0
    assert cam_in_bokeh(corner, img) == {"bokeh_share": 1.0, "face_share": 0.0}
    assert cam_in_bokeh(face, img) == {"bokeh_share": 0.0, "face_share": 1.0}
    with pytest.raises(ValueError):
        cam_in_bokeh(np.zeros((8, 8), np.float32), img)


def test_rejects_non_rgb_uint8() -> None:
    with pytest.raises(ValueError):
        measure_focus(np.zeros((32, 32), np.uint8))


def test_threads_give_the_same_answers() -> None:
    imgs = [portrait(s, sigma=s % 2 * 4, noise=2)[0] for s in range(6)]
    alone = [measure_focus(i).to_dict() for i in imgs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda i: measure_focus(i).to_dict(), imgs))
    assert together == alone


def test_focus_overlay_tints_the_defocused_blocks_and_outlines_the_subject() -> None:
    img, _ = portrait(2, sigma=5, noise=3)
    m = measure_focus(img)
    assert m.subject_box is not None and m.defocus_fraction > 0
    out = focus_overlay(img, m)
    assert out.shape == img.shape and out.dtype == np.uint8
    mask = defocus_mask(m, img.shape[:2])
    lines = np.zeros(img.shape[:2], bool)  # the outlines' pixels (a few px wide), left out of the pixel checks
    for box in (m.subject_box, m.face_box):
        x0, y0, x1, y1 = box
        ring = np.zeros_like(lines)
        ring[max(y0 - 3, 0): y1 + 3, max(x0 - 3, 0): x1 + 3] = True
        ring[y0 + 3: y1 - 3, x0 + 3: x1 - 3] = False
        lines |= ring
    tinted = np.round(img * 0.5 + np.array(DEFOCUS_TINT) * 0.5).astype(np.uint8)  # by hand: half photo, half tint
    assert np.array_equal(out[mask & ~lines], tinted[mask & ~lines])
    assert np.array_equal(out[~mask & ~lines], img[~mask & ~lines])
    x0, y0 = m.subject_box[:2]
    expected = FACE_COLOUR if m.face_source == "cascade" and m.face_box[:2] == (x0, y0) else SUBJECT_COLOUR
    assert tuple(out[y0, x0]) == expected  # the subject box's corner
    with pytest.raises(ValueError, match="no block map"):
        focus_overlay(img, FocusMeasures.from_dict(m.to_dict()))
