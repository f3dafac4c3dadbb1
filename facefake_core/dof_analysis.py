"""Depth of field against the model's mistakes: does a narrow depth of field make it call fakes "real"?

Everything here reads an :class:`~facefake_core.evaluation.Evaluation` whose rows carry focus measures (see
:mod:`facefake_core.focus`; rows without them are left out of every table) and a decision threshold on
``P(fake)``, the probability of the positive class (``fake`` when the vocab has it; see
:func:`facefake_core.metrics.positive_class`). Tables are tidy :class:`pandas.DataFrame` objects, one
observation a line, ready for plotly. Only :func:`counterfactual_summary` runs the model (forward passes in
batches, no CAM); :func:`class_spectra` reads the images again. Both report ``progress(done, total, what)``.

A *slice* is one class split by the narrow-depth-of-field flag: ``"narrow-DOF fakes"`` / ``"sharp fakes"``
(a "sharp" photo has a background about as detailed as its face), and the same for every other class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .config import CONFIG
from .counterfactual import VARIANTS
from .errors import ImageLoadError
from .evaluation import Evaluation, Row
from .images import load_photo
from .metrics import predict_at
from .model import Model, default_batch_size
from .probe import edit
from .progress import Progress
from .spectrum import N_BINS, REGIONS, ProfileStats, RadialProfile, mean_profile, radial_profile

#: Images per slice (or per class) that the slow summaries look at, spread evenly over the slice.
MAX_PER_SLICE = 40
#: Edits the set-level counterfactual summary runs by default.
SUMMARY_KINDS = ("blur_background", "sharpen_background")
#: How a sentence names each edit.
EDIT_PHRASES = {"blur_background": "Blurring the background of {}",
                "sharpen_background": "Sharpening the background of {}", "jpeg": "Re-encoding {} as JPEG",
                "rescale": "Downscaling and upscaling {}"}
#: A change in mean P(fake) smaller than this is reported as none.
NO_CHANGE = 5e-4


def slice_name(label: str, narrow: bool) -> str:
    """``"narrow-DOF fakes"`` or ``"sharp fakes"`` for class ``fake`` (and likewise for any class)."""
    return f"{'narrow-DOF' if narrow else 'sharp'} {label}s"


def default_slices(ev: Evaluation) -> tuple[str, str]:
    """The two slices the question is about: the positive class, sharp and narrow-DOF."""
    return slice_name(ev.positive, False), slice_name(ev.positive, True)


def _p(row: Row, ev: Evaluation) -> float:
    return float(row.probs[ev.positive])


def focus_frame(ev: Evaluation, threshold: float = CONFIG.threshold) -> pd.DataFrame:
    """One line per row that has focus measures.

    Columns: ``index`` (position in ``ev.rows``), ``path``, ``image_sha``, ``label``, ``style``, ``p_fake``,
    ``pred`` (decision at ``threshold``), ``correct``, ``dof_score``, ``sharpness_ratio``, ``narrow_dof``,
    ``defocus_fraction``, ``bokeh_share`` and ``face_share`` (NaN when no CAM was stored), ``face_source`` and
    ``slice``.
    """
    preds = predict_at(ev.p_pos(), ev.vocab, threshold) if ev.rows else []
    lines = []
    for i, (row, pred) in enumerate(zip(ev.rows, preds)):
        f = row.focus
        if not f:
            continue
        narrow = bool(f["narrow_dof"])
        lines.append({
            "index": i, "path": row.path, "image_sha": row.image_sha, "label": row.label, "style": row.style,
            "p_fake": _p(row, ev), "pred": pred, "correct": pred == row.label, "dof_score": float(f["dof_score"]),
            "sharpness_ratio": float(f["sharpness_ratio"]), "narrow_dof": narrow,
            "defocus_fraction": float(f["defocus_fraction"]), "bokeh_share": float(f.get("bokeh_share", np.nan)),
            "face_share": float(f.get("face_share", np.nan)), "face_source": f.get("face_source", ""),
            "slice": slice_name(row.label, narrow)})
    return pd.DataFrame(lines, columns=["index", "path", "image_sha", "label", "style", "p_fake", "pred", "correct",
                                        "dof_score", "sharpness_ratio", "narrow_dof", "defocus_fraction",
                                        "bokeh_share", "face_share", "face_source", "slice"])


def dof_edges(scores: Sequence[float], bins: int | Sequence[float] = 4) -> np.ndarray:
    """Bin edges over ``dof_score``: ``bins`` quantile bins of ``scores``, or the given edges (sorted, unique).

    Raises:
        ValueError: fewer than one bin can be formed, or no scores for quantile bins.
    """
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(f"need at least one bin, got {bins}")
        if len(scores) == 0:
            raise ValueError("no depth-of-field scores to bin")
        edges = np.unique(np.quantile(np.asarray(scores, float), np.linspace(0, 1, int(bins) + 1)))
        return edges if len(edges) > 1 else np.array([edges[0], edges[0]])  # one value: one closed bin
    edges = np.unique(np.asarray(bins, float))
    if len(edges) < 2:
        raise ValueError(f"need at least two bin edges, got {list(bins)}")
    return edges


def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``[lo, hi)``, the last bin closed ``[lo, hi]``; -1 outside the edges."""
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    return np.where((x >= edges[0]) & (x <= edges[-1]), idx, -1)


def error_by_dof(ev: Evaluation, threshold: float = CONFIG.threshold,
                 bins: int | Sequence[float] = 4) -> pd.DataFrame:
    """Error rate and mean P(fake) of each class in each ``dof_score`` bin (bins shared by all classes).

    Args:
        ev: an evaluation whose rows carry focus measures.
        threshold: decision threshold on P(fake).
        bins: number of quantile bins over the whole set, or explicit edges (values outside are left out).

    Returns:
        Columns ``label``, ``bin`` (``"[lo, hi)"``; the last bin closed), ``lo``, ``hi``, ``n``, ``errors``,
        ``error_rate``, ``mean_p_fake``; one line per class and non-empty bin, classes in vocab order.
    """
    frame = focus_frame(ev, threshold)
    cols = ["label", "bin", "lo", "hi", "n", "errors", "error_rate", "mean_p_fake"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    edges = dof_edges(frame["dof_score"].to_numpy(), bins)
    frame["b"] = _bin_index(frame["dof_score"].to_numpy(), edges)
    lines = []
    for label in ev.vocab:
        for b in range(len(edges) - 1):
            part = frame[(frame["label"] == label) & (frame["b"] == b)]
            if part.empty:
                continue
            lo, hi = float(edges[b]), float(edges[b + 1])
            errors = int((~part["correct"]).sum())
            close = "]" if b == len(edges) - 2 else ")"
            lines.append({"label": label, "bin": f"[{lo:.2f}, {hi:.2f}{close}", "lo": lo, "hi": hi, "n": len(part),
                          "errors": errors, "error_rate": errors / len(part),
                          "mean_p_fake": float(part["p_fake"].mean())})
    return pd.DataFrame(lines, columns=cols)


def slice_table(ev: Evaluation, threshold: float = CONFIG.threshold) -> pd.DataFrame:
    """Accuracy of the narrow-DOF images of each class against its other images, at ``threshold``.

    Returns:
        Columns ``label``, ``slice``, ``narrow_dof``, ``n``, ``correct``, ``accuracy`` and ``mean_p_fake`` (NaN
        when ``n`` is 0); per class in vocab order, narrow-DOF first.
    """
    frame = focus_frame(ev, threshold)
    lines = []
    for label in ev.vocab:
        for narrow in (True, False):
            part = frame[(frame["label"] == label) & (frame["narrow_dof"] == narrow)]
            n, right = len(part), int(part["correct"].sum())
            lines.append({"label": label, "slice": slice_name(label, narrow), "narrow_dof": narrow, "n": n,
                          "correct": right, "accuracy": right / n if n else np.nan,
                          "mean_p_fake": float(part["p_fake"].mean()) if n else np.nan})
    return pd.DataFrame(lines)


def selected_path(event: Mapping[str, Any] | None) -> str | None:
    """The image path a scatter click picked, from a Streamlit plotly selection event.

    Each point of the scatter carries ``customdata = [path, ...]``. The whole event
    (``{"selection": {"points": [...]}}``) and the bare selection (``{"points": [...]}``) are both accepted.

    Returns:
        The first selected point's path, or ``None`` when nothing usable is selected.
    """
    if not event:
        return None
    selection = event.get("selection", event) or {}
    for point in selection.get("points") or []:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and custom and isinstance(custom[0], str):
            return custom[0]
        if isinstance(custom, str):
            return custom
    return None


def row_by_path(ev: Evaluation, path: str | None) -> Row | None:
    """The row of ``ev`` for ``path``, or ``None`` (no path, or a stale link)."""
    return next((r for r in ev.rows if r.path == path), None) if path else None


def cam_bokeh_groups(ev: Evaluation, threshold: float = CONFIG.threshold) -> dict[str, dict[str, Any]]:
    """Where the stored CAM mass falls (on defocused blocks, on the face box) for errors and correct predictions.

    Returns:
        ``{"error": g, "correct": g}`` with ``g = {"n", "bokeh_share": [...], "face_share": [...],
        "mean_bokeh_share", "mean_face_share"}``; means are ``None`` for an empty group. Rows evaluated without
        CAMs are left out.
    """
    frame = focus_frame(ev, threshold).dropna(subset=["bokeh_share", "face_share"])
    out = {}
    for group, right in (("error", False), ("correct", True)):
        part = frame[frame["correct"] == right]
        bokeh, face = part["bokeh_share"].tolist(), part["face_share"].tolist()
        out[group] = {"n": len(part), "bokeh_share": bokeh, "face_share": face,
                      "mean_bokeh_share": float(np.mean(bokeh)) if bokeh else None,
                      "mean_face_share": float(np.mean(face)) if face else None}
    return out


def _spread(items: Sequence, cap: int) -> list:
    """At most ``cap`` items, evenly spaced over ``items`` (all of them when there are fewer)."""
    if len(items) <= cap:
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, cap).round().astype(int))]


def slice_rows(ev: Evaluation, name: str, cap: int | None = None) -> list[Row]:
    """The rows of one slice (see :func:`slice_name`), at most ``cap`` of them spread evenly.

    Raises:
        ValueError: ``name`` is not a slice of this evaluation's classes.
    """
    names = {slice_name(c, n): (c, n) for c in ev.vocab for n in (True, False)}
    if name not in names:
        raise ValueError(f"unknown slice {name!r}; choose one of {', '.join(names)}")
    label, narrow = names[name]
    rows = [r for r in ev.rows if r.focus and r.label == label and bool(r.focus["narrow_dof"]) == narrow]
    return rows if cap is None else _spread(rows, cap)


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
    :func:`facefake_core.probe.edit`'s own region.

    Args:
        model: the model that produced ``ev``.
        ev: an evaluation whose rows carry focus measures.
        slices: slice names (see :func:`slice_name`); default :func:`default_slices`.
        kinds: keys of :data:`facefake_core.counterfactual.VARIANTS`.
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
        box = row.focus.get("face_box")
        region = tuple(box) if box else None
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

    The same statistic as :func:`facefake_core.spectrum.mean_image_profile`, computed one image at a time so
    that only profiles are held and progress can be reported.

    Args:
        ev: an evaluation whose rows carry focus measures (their face boxes are used).
        regions: regions of :data:`facefake_core.spectrum.REGIONS`.
        max_per_class: images per class, spread evenly over it.
        progress: called as ``progress(done, total, what)``, counting images.

    Returns:
        ``{label: {region: ProfileStats}}``; a class or region with no usable image is absent.
    """
    plan = [(label, r) for label in ev.vocab
            for r in _spread([r for r in ev.rows if r.focus and r.label == label], max_per_class)]
    profiles: dict[tuple[str, str], list[RadialProfile]] = {}
    if progress:
        progress(0, len(plan), "images")
    for i, (label, row) in enumerate(plan, 1):
        try:
            pixels = load_photo(row.path).pixels
        except ImageLoadError:
            pixels = None
        if pixels is not None:
            for region, prof in image_spectra(pixels, row.focus.get("face_box"), regions, n_bins).items():
                profiles.setdefault((label, region), []).append(prof)
        if progress:
            progress(i, len(plan), "images")
    out: dict[str, dict[str, ProfileStats]] = {}
    for (label, region), profs in profiles.items():
        out.setdefault(label, {})[region] = mean_profile(profs)
    return out
