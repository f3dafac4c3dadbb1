"""Tests for facefake_core.synth: determinism, layout, and the two traces the demo depends on.

Expected values come from the pipelines' definitions, measured here with plain numpy/OpenCV:
a generator's upsampling leaves energy at the periodic frequencies (period 2 and 4), a camera does not,
and a defocused background has little high-frequency content left.
"""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from facefake_core.demo import LABELS, MANIFEST_NAME, STYLES, render_portrait, write_dataset

SIZE = 96
SEEDS = range(6)


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _top_corners(img: np.ndarray) -> list[np.ndarray]:
    """The two top corners: background in every portrait (the head never reaches there)."""
    g, c = _grey(img), img.shape[0] * 3 // 16
    return [g[:c, :c], g[:c, -c:]]


def _periodic_energy(g: np.ndarray) -> float:
    """Spectral magnitude at the period-2 and period-4 frequencies, relative to the mean magnitude."""
    g = g - cv2.GaussianBlur(g, (0, 0), 2)
    f = np.abs(np.fft.fft2(g))
    n, m = g.shape
    picks = [(n // 2, 0), (0, m // 2), (n // 2, m // 2), (n // 4, 0), (0, m // 4), (n // 4, m // 4)]
    return float(sum(f[p] for p in picks) / f.mean())


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("style", STYLES)
def test_same_seed_same_bytes(label: str, style: str) -> None:
    a = render_portrait(11, label, style, SIZE)
    b = render_portrait(11, label, style, SIZE)
    assert a.dtype == np.uint8 and a.shape == (SIZE, SIZE, 3)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != render_portrait(12, label, style, SIZE).tobytes()


@pytest.mark.parametrize("args", [(1, "maybe", "casual", SIZE), (1, "real", "noir", SIZE), (1, "real", "casual", 98)])
def test_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        render_portrait(*args)


def test_fakes_carry_the_upsampling_fingerprint() -> None:
    fake = _mean([_periodic_energy(_grey(render_portrait(s, "fake", "casual", SIZE))) for s in SEEDS])
    real = _mean([_periodic_energy(_grey(render_portrait(s, "real", "casual", SIZE))) for s in SEEDS])
    assert fake > 5 * real


def test_studio_defocus_wipes_the_background_fingerprint() -> None:
    def corner_energy(label: str, style: str) -> float:
        return _mean([_periodic_energy(c) for s in SEEDS for c in _top_corners(render_portrait(s, label, style, 192))])

    casual_fake, studio_fake = corner_energy("fake", "casual"), corner_energy("fake", "studio")
    real = corner_energy("real", "casual")
    assert studio_fake < casual_fake / 3
    assert studio_fake < 2 * real  # what is left looks no more "generated" than a camera's background


@pytest.mark.parametrize("label", LABELS)
def test_studio_background_is_blurrier(label: str) -> None:
    def sharpness(style: str) -> float:
        return _mean([float(cv2.Laplacian(c, cv2.CV_32F).var())
                      for s in SEEDS for c in _top_corners(render_portrait(s, label, style, 192))])

    assert sharpness("studio") < 0.7 * sharpness("casual")


def test_write_dataset_layout_and_manifest(tmp_path) -> None:
    rows = write_dataset(tmp_path / "a", {"casual": 2, "studio": 1}, seed=3, size=64)
    assert len(rows) == 6
    with open(tmp_path / "a" / MANIFEST_NAME, newline="") as f:
        read = list(csv.DictReader(f))
    assert [(r["path"], r["label"], r["style"]) for r in read] == [(r.path, r.label, r.style) for r in rows]
    for r in read:
        assert r["path"].split("/")[0] == r["label"]
        img = cv2.imread(str(tmp_path / "a" / r["path"]))
        assert img.shape == (64, 64, 3)
    assert sorted((r["label"], r["style"]) for r in read).count(("fake", "studio")) == 1
    again = write_dataset(tmp_path / "b", {"casual": 2, "studio": 1}, seed=3, size=64)
    for r in again:
        assert (tmp_path / "a" / r.path).read_bytes() == (tmp_path / "b" / r.path).read_bytes()
