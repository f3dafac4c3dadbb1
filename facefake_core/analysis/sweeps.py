"""Counterfactual sweeps: edit photos (blur or sharpen the background, re-encode, rescale) and ask the model again.

The edits are pure functions in :mod:`facefake_core.imaging.edits`. :func:`sweep` runs one photo through every
value of one edit, with heatmaps; :func:`counterfactual_summary` runs the slices of an evaluated set (see
:mod:`.dof`) through background edits, forward passes only, in batches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ImageLoadError
from ..evaluation import Evaluation
from ..imaging.edits import VARIANTS, edit, face_region
from ..imaging.photo import Photo, load_photo
from ..model import Explanation, Model, default_batch_size
from ..progress import Progress
from .dof import MAX_PER_SLICE, default_slices, slice_rows

#: Edits the set-level counterfactual summary runs by default.
SUMMARY_KINDS = ("blur_background", "sharpen_background")
#: How a sentence names each edit.
EDIT_PHRASES = {"blur_background": "Blurring the background of {}",
                "sharpen_background": "Sharpening the background of {}", "jpeg": "Re-encoding {} as JPEG",
                "rescale": "Downscaling and upscaling {}"}
#: A change in mean P(fake) smaller than this is reported as none.
NO_CHANGE = 5e-4


@dataclass(frozen=True)
class SweepPoint:
    value: float
    explanation: Explanation


def sweep(model: Model, photo: Photo, kind: str, values: Sequence[float] | None = None,
          method: str = "gradcam") -> list[SweepPoint]:
    """Prediction and heatmap of ``photo`` under each value of one edit, in one batch.

    Returns:
        One :class:`SweepPoint` per value, in order; the identity value reproduces the original.
    """
    values = tuple(VARIANTS[kind].values if values is None else values)
    region = face_region(photo) if VARIANTS[kind].needs_region else None
    edited = [edit(photo, kind, v, region) for v in values]
    return [SweepPoint(v, e) for v, e in zip(values, model.explain_batch(edited, method=method))]


@dataclass(frozen=True)
class CounterfactualSummary:
    """What background edits do to a set's slices.

    ``per_image``: columns ``slice``, ``kind``, ``value``, ``path``, ``p_fake``. ``table``: ``slice``, ``kind``,
    ``value``, ``n``, ``mean_p_fake``, ``delta`` (change from the edit's identity value). ``skipped``:
    ``(path, reason)`` for images that could not be read again.
    """

    per_image: pd.DataFrame
    table: pd.DataFrame
    skipped: tuple[tuple[str, str], ...]
    positive: str = "fake"

    def sentences(self) -> list[str]:
        """One sentence per slice and edit, on its strongest value against the unedited images."""
        out = []
        for (name, kind), part in self.table.groupby(["slice", "kind"], sort=False):
            ident = VARIANTS[kind].identity
            base = part[part["value"] == ident]
            far = part.loc[(part["value"] - ident).abs().idxmax()]
            if base.empty or far["value"] == ident:
                continue
            m0, m1, d = float(base["mean_p_fake"].iloc[0]), float(far["mean_p_fake"]), float(far["delta"])
            verb = "leaves" if abs(d) < NO_CHANGE else "lowers" if d < 0 else "raises"
            what = EDIT_PHRASES.get(kind, kind + " on {}").format(name)
            how = (f"mean P({self.positive}) unchanged" if verb == "leaves"
                   else f"mean P({self.positive}) by {abs(d):.3f}")
            out.append(f"{what} ({VARIANTS[kind].label} {far['value']:g}) {verb} {how} "
                       f"({m0:.3f} → {m1:.3f}, {int(far['n'])} images).")
        return out


def _sweep_values(kinds: Sequence[str], values: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    out = {}
    for kind in kinds:
        if kind not in VARIANTS:
            raise ValueError(f"unknown edit {kind!r}; choose one of {', '.join(VARIANTS)}")
        out[kind] = tuple(float(v) for v in ((values or {}).get(kind) or VARIANTS[kind].values))
    return out


def counterfactual_summary(model: Model, ev: Evaluation, slices: Sequence[str] | None = None,
                           kinds: Sequence[str] = SUMMARY_KINDS, values: Mapping[str, Sequence[float]] | None = None,
                           max_per_slice: int = MAX_PER_SLICE, batch_size: int | None = None,
                           progress: Progress | None = None) -> CounterfactualSummary:
    """Mean P(fake) of each slice under each value of each edit, from batched forward passes (no CAM).

    Background edits protect the stored face box (the one the focus measures used); an image without one gets
    :func:`facefake_core.imaging.edits.edit`'s own region.

    Args:
        model: the model that produced ``ev``.
        ev: an evaluation whose rows carry focus measures.
        slices: slice names (see :func:`slice_name`); default :func:`default_slices`.
        kinds: keys of :data:`facefake_core.imaging.edits.VARIANTS`.
        values: a sweep per kind; each kind's default sweep otherwise.
        max_per_slice: images per slice, spread evenly over it.
        batch_size: edited images per forward pass (default: the device's, see ``default_batch_size``).
        progress: called as ``progress(done, total, what)``, counting edited images.
    """
    sweeps = _sweep_values(kinds, values)
    plan = [(name, row) for name in (slices or default_slices(ev)) for row in slice_rows(ev, name, max_per_slice)]
    batch_size = batch_size or (default_batch_size(model.device) if plan else 1)
    per_row = sum(len(v) for v in sweeps.values())
    total, done = len(plan) * per_row, 0
    pos = ev.positive
    records: list[dict] = []
    skipped: list[tuple[str, str]] = []
    pending: list[tuple[dict, Any]] = []

    def flush() -> None:
        nonlocal done
        if pending:
            for (rec, _), pred in zip(pending, model.predict_batch([ph for _, ph in pending])):
                records.append({**rec, "p_fake": float(pred.probs[pos])})
            done += len(pending)
            pending.clear()
        if progress:
            progress(done, total, "edited images")

    if progress:
        progress(0, total, "edited images")
    for name, row in plan:
        try:
            photo = load_photo(row.path)
        except ImageLoadError as err:
            skipped.append((row.path, str(err)))
            done += per_row
            continue
        region = row.focus.face_box if row.focus is not None else None
        for kind, sweep in sweeps.items():
            for v in sweep:
                pending.append(({"slice": name, "kind": kind, "value": v, "path": row.path},
                                edit(photo, kind, v, region)))
                if len(pending) >= batch_size:
                    flush()
    flush()
    per_image = pd.DataFrame(records, columns=["slice", "kind", "value", "path", "p_fake"])
    table = (per_image.groupby(["slice", "kind", "value"], sort=False)["p_fake"].agg(["size", "mean"])
             .rename(columns={"size": "n", "mean": "mean_p_fake"}).reset_index())
    ident = table["kind"].map(lambda k: VARIANTS[k].identity)
    base = table[table["value"] == ident].set_index(["slice", "kind"])["mean_p_fake"]
    table["delta"] = [m - base.get((s, k), np.nan) for s, k, m in zip(table["slice"], table["kind"],
                                                                       table["mean_p_fake"])]
    return CounterfactualSummary(per_image, table, tuple(skipped), pos)
