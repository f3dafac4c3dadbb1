"""Robustness curves over a whole set: the same edit at several strengths on every image of both classes (as
CNNDetection and UniversalFakeDetect evaluate), and what the model's metrics do along the way.

Edits (pure functions of :mod:`facefake_core.imaging.edits`): ``jpeg`` (quality), ``blur`` (Gaussian sigma, the
whole photo), ``downscale`` (factor, then back up) and ``background_blur`` (sigma, the face box of the stored
focus measures untouched). The ``none`` point is the evaluation itself. Each image is decoded once for all of
its missing edits, the edited copies go through the network in batches (forward passes only), and every result
is stored under (model sha, image sha, edit, value): a second run does no model work, and a new value runs only
that value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..config import CONFIG
from ..errors import ImageLoadError
from ..evaluation import Evaluation, Row, Store, compute
from ..imaging.edits import VARIANTS, face_region
from ..imaging.photo import Photo, decode, read_bytes
from ..model import Model, default_batch_size, forward_only
from ..progress import Progress

#: Robustness edit -> the :data:`~facefake_core.imaging.edits.VARIANTS` entry that performs it.
EDITS = {"jpeg": "jpeg", "blur": "blur", "downscale": "rescale", "background_blur": "blur_background"}
#: Default values per edit (``facefake robustness`` without ``--edit`` runs these).
DEFAULT_VALUES = {"jpeg": (90, 70, 50, 30), "blur": (1, 2, 4), "downscale": (0.5, 0.25), "background_blur": (2, 4, 8)}


def parse_edit(text: str) -> tuple[str, tuple[float, ...]]:
    """``"jpeg=30,50,70"`` -> ``("jpeg", (30.0, 50.0, 70.0))``.

    Raises:
        ValueError: an unknown edit or a value that is not a number.
    """
    name, _, values = text.partition("=")
    name = name.strip()
    if name not in EDITS:
        raise ValueError(f"unknown edit {name!r}; choose one of {', '.join(EDITS)} (as jpeg=30,50,70)")
    try:
        vals = tuple(float(v) for v in values.split(",") if v.strip()) or DEFAULT_VALUES[name]
    except ValueError:
        raise ValueError(f"--edit {text}: values must be numbers, as {name}=" + ",".join(
            f"{v:g}" for v in DEFAULT_VALUES[name])) from None
    return name, tuple(float(v) for v in vals)


def _point(edit: str, value: float | None, rows: Sequence[Row], p: np.ndarray, vocab: Sequence[str],
           threshold: float, slices: Mapping[str, Sequence[str]]) -> dict:
    labels = [r.label for r in rows]
    m = compute(labels, p, vocab, threshold)
    lab = np.array(labels)
    mean = {c: (float(p[lab == c].mean()) if (lab == c).any() else None) for c in vocab}
    out = {"edit": edit, "n": m.n, "auc": m.auc, "ap": m.ap, "per_class_accuracy": m.per_class_accuracy,
           "mean_p_fake": mean}
    if value is not None:
        out = {"edit": edit, "value": value, **{k: v for k, v in out.items() if k != "edit"}}
    out["slices"] = {}
    for col, values in slices.items():
        vals = np.array([values.get(r.image_sha, "") for r in rows])
        out["slices"][col] = {}
        for v in sorted(set(vals) - {""}):
            idx = np.flatnonzero(vals == v)
            sm = compute([labels[i] for i in idx], p[idx], vocab, threshold)
            out["slices"][col][v] = {"n": sm.n, "auc": sm.auc, "ap": sm.ap, "per_class_accuracy": sm.per_class_accuracy,
                                     "mean_p_fake": {c: (float(p[idx][lab[idx] == c].mean())
                                                         if (lab[idx] == c).any() else None) for c in vocab}}
    return out


def _edited_items(model: Model, row: Row, wanted: Sequence[tuple[str, float]]) -> list:
    """Decode ``row``'s file once and return the model's input item for each ``(edit, value)``."""
    pixels, _ = decode(read_bytes(row.path), row.path)
    region = None
    out = []
    for edit, value in wanted:
        variant = VARIANTS[EDITS[edit]]
        if variant.needs_region and region is None:  # the stored face box, else the counterfactuals' own region
            region = (row.focus.face_box if row.focus is not None and row.focus.face_box is not None
                      else face_region(Photo(pixels, row.path, row.image_sha)))
        edited = np.ascontiguousarray(variant.apply(pixels, value, region if variant.needs_region else None))
        out.append(model.prep.item(edited))
    return out


def robustness(model: Model, ev: Evaluation, edits: Mapping[str, Sequence[float]], *, store: Store | None = None,
               threshold: float = CONFIG.threshold, slices: Mapping[str, Sequence[str]] | None = None,
               batch_size: int | None = None, progress: Progress | None = None) -> dict:
    """The robustness curves of ``model`` on the evaluated set ``ev``.

    Args:
        model: the model that produced ``ev`` (its sha keys the stored results).
        ev: the set's evaluation; its rows give the files, labels, face boxes and the ``none`` point.
        edits: edit name (a key of :data:`EDITS`) -> values.
        store: where edited results are kept (default: the default store).
        slices: slice column -> one value per row of ``ev`` (as :func:`~facefake_core.analysis.slices.slice_columns`
            returns them); each point then carries the metrics per slice value.
        batch_size: edited images per forward pass (default: the device's).
        progress: called as ``progress(done, total, "edited images")``.

    Returns:
        ``{model, n, curves: [{edit, value, n, auc, ap, per_class_accuracy, mean_p_fake, slices}], errors}``;
        the first curve point is ``{"edit": "none", ...}``. ``errors`` lists ``{path, error}`` of files that
        could not be read again (they are left out of the edited points).
    """
    for name in edits:
        if name not in EDITS:
            raise ValueError(f"unknown edit {name!r}; choose one of {', '.join(EDITS)}")
    store = store or Store()
    sha = model.info.sha256
    rows = list(ev.rows)
    by_sha = {r.image_sha: r for r in rows}
    cols = {c: dict(zip([r.image_sha for r in rows], v)) for c, v in (slices or {}).items()}
    plan = [(e, float(v)) for e, vs in edits.items() for v in vs]
    cached = {(e, v): store.get_edit_results(sha, e, v, list(by_sha)) for e, v in plan}
    todo: dict[str, list[tuple[str, float]]] = {}
    for (e, v), got in cached.items():
        for h in by_sha:
            if h not in got:
                todo.setdefault(h, []).append((e, v))
    total, done = sum(len(w) for w in todo.values()), 0
    batch_size = batch_size or default_batch_size(model.device)
    errors: dict[str, str] = {}
    pending: list[tuple[str, str, float, object]] = []

    def flush() -> None:
        nonlocal done
        if pending:
            probs = forward_only(model.net, model.batch([item for *_, item in pending]))
            new = [(h, e, v, {c: float(q) for c, q in zip(model.vocab, pr)}) for (h, e, v, _), pr in zip(pending, probs)]
            store.put_edit_results(sha, new)
            for h, e, v, pr in new:
                cached[(e, v)][h] = pr
            done += len(pending)
            pending.clear()
        if progress:
            progress(done, total, "edited images")

    if progress:
        progress(0, total, "edited images")
    for h, wanted in todo.items():
        try:
            items = _edited_items(model, by_sha[h], wanted)
        except ImageLoadError as err:
            errors[by_sha[h].path] = str(err)
            done += len(wanted)
            continue
        for (e, v), item in zip(wanted, items):
            pending.append((h, e, v, item))
            if len(pending) >= batch_size:
                flush()
    flush()
    pos = ev.positive
    curves = [_point("none", None, rows, ev.p_pos(), ev.vocab, threshold, cols)]
    for e, v in plan:
        got = cached[(e, v)]
        kept = [r for r in rows if r.image_sha in got]
        p = np.array([got[r.image_sha][pos] for r in kept], float)
        curves.append(_point(e, v, kept, p, ev.vocab, threshold, cols))
    return {"model": model.info.source, "n": len(rows), "curves": curves,
            "errors": [{"path": p, "error": e} for p, e in errors.items()]}
