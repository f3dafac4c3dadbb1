"""Spectra of an evaluated set's photos, by class and region (image, face, background), from the face boxes
their focus measures found. Reads the images again; never runs the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ImageLoadError
from ..evaluation import Evaluation
from ..imaging.photo import load_photo
from ..imaging.spectrum import N_BINS, REGIONS, ProfileStats, RadialProfile, mean_profile, radial_profile
from ..progress import Progress
from .dof import MAX_PER_SLICE, spread


def image_spectra(pixels: np.ndarray, face_box: Sequence[int] | None, regions: Sequence[str] = REGIONS,
                  n_bins: int = N_BINS) -> dict[str, RadialProfile]:
    """Radial profiles of one photo's regions; ``face`` and ``background`` only when there is a face box.

    Args:
        pixels: photo, RGB ``uint8`` ``(H, W, 3)``.
        face_box: ``(x0, y0, x1, y1)`` or ``None``.
    """
    box = tuple(int(v) for v in face_box) if face_box else None
    out = {}
    for region in regions:
        if region != "image" and box is None:
            continue
        try:
            out[region] = radial_profile(pixels, region, box, n_bins=n_bins)
        except ValueError:  # a face box too small (or too large) to leave pixels for this region
            continue
    return out


def class_spectra(ev: Evaluation, regions: Sequence[str] = REGIONS, max_per_class: int = MAX_PER_SLICE,
                  n_bins: int = N_BINS, progress: Progress | None = None) -> dict[str, dict[str, ProfileStats]]:
    """Per-class mean radial spectra of a set, by region.

    The same statistic as :func:`facefake_core.imaging.spectrum.mean_image_profile`, computed one image at a time so
    that only profiles are held and progress can be reported.

    Args:
        ev: an evaluation whose rows carry focus measures (their face boxes are used).
        regions: regions of :data:`facefake_core.imaging.spectrum.REGIONS`.
        max_per_class: images per class, spread evenly over it.
        progress: called as ``progress(done, total, what)``, counting images.

    Returns:
        ``{label: {region: ProfileStats}}``; a class or region with no usable image is absent.
    """
    plan = [(label, r) for label in ev.vocab
            for r in spread([r for r in ev.rows if r.focus is not None and r.label == label], max_per_class)]
    profiles: dict[tuple[str, str], list[RadialProfile]] = {}
    if progress:
        progress(0, len(plan), "images")
    for i, (label, row) in enumerate(plan, 1):
        try:
            pixels = load_photo(row.path).pixels
        except ImageLoadError:
            pixels = None
        if pixels is not None:
            for region, prof in image_spectra(pixels, row.focus.face_box, regions, n_bins).items():
                profiles.setdefault((label, region), []).append(prof)
        if progress:
            progress(i, len(plan), "images")
    out: dict[str, dict[str, ProfileStats]] = {}
    for (label, region), profs in profiles.items():
        out.setdefault(label, {})[region] = mean_profile(profs)
    return out
