"""Depth of field against the model's mistakes: does a narrow depth of field make it call fakes "real"?

Everything here reads an :class:`~facefake_core.evaluation.Evaluation` whose rows carry focus measures (see
:mod:`facefake_core.imaging.focus`; rows without them are left out of every table) and a decision threshold on
``P(fake)``, the probability of the positive class (``fake`` when the vocab has it; see
:func:`facefake_core.evaluation.metrics.positive_class`). Tables are tidy :class:`pandas.DataFrame` objects, one
observation a line, ready for plotly. Nothing here runs the model or reads an image: the counterfactual
summary is in :mod:`.sweeps`, the spectra in :mod:`.spectra`.

A *slice* is one class split by the narrow-depth-of-field flag: ``"narrow-DOF fakes"`` / ``"sharp fakes"``
(a "sharp" photo has a background about as detailed as its face), and the same for every other class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import CONFIG
from ..evaluation import Evaluation, Row, predict_at

#: Images per slice (or per class) that the slow summaries look at, spread evenly over the slice.
MAX_PER_SLICE = 40


def slice_name(label: str, narrow: bool) -> str:
    """``"narrow-DOF fakes"`` or ``"sharp fakes"`` for class ``fake`` (and likewise for any class)."""
    return f"{'narrow-DOF' if narrow else 'sharp'} {label}s"


def default_slices(ev: Evaluation) -> tuple[str, str]:
    """The two slices the question is about: the positive class, sharp and narrow-DOF."""
    return slice_name(ev.positive, False), slice_name(ev.positive, True)


def _p(row: Row, ev: Evaluation) -> float:
    return float(row.probs[ev.positive])


def _nan(x: float | None) -> float:
    return np.nan if x is None else float(x)


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
        if f is None:
            continue
        narrow = bool(f.narrow_dof)
        lines.append({
            "index": i, "path": row.path, "image_sha": row.image_sha, "label": row.label, "style": row.style,
            "p_fake": _p(row, ev), "pred": pred, "correct": pred == row.label, "dof_score": float(f.dof_score),
            "sharpness_ratio": float(f.sharpness_ratio), "narrow_dof": narrow,
            "defocus_fraction": float(f.defocus_fraction), "bokeh_share": _nan(row.bokeh_share),
            "face_share": _nan(row.face_share), "face_source": f.face_source,
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


def row_by_path(ev: Evaluation, path: str | None) -> Row | None:
    """The row of ``ev`` for ``path``, or ``None`` (no path, or a stale link)."""
    paths = ev.column("path") if path else []
    return ev.rows[paths.index(path)] if path in paths else None


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


def spread(items: Sequence, cap: int) -> list:
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
    rows = [r for r in ev.rows if r.focus is not None and r.label == label and r.focus.narrow_dof == narrow]
    return rows if cap is None else spread(rows, cap)
