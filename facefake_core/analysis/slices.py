"""Where does it fail? Metrics per slice of an evaluated set, with bootstrap confidence intervals, and a diagnosis
in words when a slice ranks well but thresholds badly.

A *slice column* is a manifest column other than ``path`` and ``label`` (``style``, ``generator`` ...), or one of
the derived columns, with 2 to :data:`MAX_VALUES` distinct values. The derived columns are ``narrow_dof`` (from
the focus measures), ``format``, ``size`` (a bucket of the photo's short side) and ``jpeg_quality`` (a bucket of the quality
estimated from the quantisation tables; ``not JPEG`` otherwise). File facts come from
:func:`facefake_core.imaging.fileinfo.file_info`, read once per image and kept in the store.

Statistics come from scikit-learn (AUC, AP, confusion) and scipy (``scipy.stats.bootstrap``, percentile
intervals, seeded). The AUC interval resamples the fakes and the reals separately (a stratified bootstrap:
scipy's multi-sample bootstrap with the Mann-Whitney U statistic, U / (n_fake n_real) being the AUC).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import bootstrap, mannwhitneyu

from ..config import CONFIG
from ..evaluation import Evaluation, best_threshold, calibration, compute, positive_class, predict_at
from ..evaluation.headers import (  # noqa: F401 - the slice columns' buckets, re-exported for analysis' users
    QUALITY_EDGES, SIZE_EDGES, bucket_columns, file_infos, header_columns, quality_bucket, size_bucket,
)
from ..imaging.fileinfo import FileInfo

#: A manifest column with more distinct values than this (an id, a file name) is not a slice column.
MAX_VALUES = 50
DERIVED = ("narrow_dof", "format", "size", "jpeg_quality")
#: Bootstrap resamples and seed of every confidence interval.
N_RESAMPLES = 1000
SEED = 0
def slice_columns(ev: Evaluation, infos: dict[str, FileInfo | None] | None = None,
                  headers: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every slice column of ``ev``: column -> one value per row (``""`` where a row has none), in row order; the
    derived file columns from ``headers`` (:func:`header_columns`) or else ``infos`` (:func:`file_infos`).

    A column is kept when it has 2 to :data:`MAX_VALUES` distinct values: one value is no slice (every row of
    this set is PNG, say), and a value per row is an id.
    """
    cand: dict[str, list[str]] = {}
    cand.update(sorted(ev.column("meta").items()))
    narrow = ev.column("narrow")
    if (narrow >= 0).any():
        cand["narrow_dof"] = np.array(["", "sharp", "narrow"])[narrow + 1].tolist()
    if headers is not None:
        cand.update(headers)
    elif infos is not None:
        got = [infos.get(h) for h in ev.column("image_sha")]
        cand.update(bucket_columns([(i.format, i.width, i.height, i.jpeg_quality) if i else None for i in got]))
    return {c: v for c, v in cand.items() if 2 <= len(set(v) - {""}) <= MAX_VALUES}


def _interval(samples: tuple[np.ndarray, ...], statistic: Callable, seed: int, n_resamples: int) -> list | None:
    if any(len(s) < 2 for s in samples):
        return None
    res = bootstrap(samples, statistic, n_resamples=n_resamples, confidence_level=0.95, method="percentile",
                    vectorized=True, random_state=np.random.default_rng(seed), batch=200)
    lo, hi = res.confidence_interval
    return [float(lo), float(hi)]


def _auc(fake: np.ndarray, real: np.ndarray, axis: int = -1) -> np.ndarray:
    return mannwhitneyu(fake, real, axis=axis).statistic / (fake.shape[axis] * real.shape[axis])


def slice_metrics(labels: Sequence[str], p_fake: Sequence[float], vocab: Sequence[str],
                  threshold: float = CONFIG.threshold, ci: bool = True, n_resamples: int = N_RESAMPLES,
                  seed: int = SEED) -> dict:
    """The metrics of one slice (or a whole set).

    Returns:
        ``{n, n_fake, n_real, auc, ap, eer, per_class_accuracy, balanced_accuracy, best_threshold: {threshold,
        per_class_accuracy}, ece, brier, ci}``; ``ci`` holds 95% intervals ``[lo, hi]`` of
        ``per_class_accuracy`` (per class), ``balanced_accuracy`` and ``auc`` (``None`` where a class has fewer
        than 2 images), or is ``None`` with ``ci=False``. Balanced accuracy is the mean accuracy of the classes
        present (scikit-learn's ``balanced_accuracy_score``).
    """
    labels = np.asarray(labels, dtype=str)  # one array: compute() and the masks below are vectorised
    m = compute(labels, p_fake, vocab, threshold)
    pos = positive_class(vocab)
    neg = next(v for v in vocab if v != pos)
    y = (labels == pos).astype(int)
    p = np.asarray(p_fake, float)
    present = [a for a in m.per_class_accuracy.values() if a is not None]
    bal = float(np.mean(present)) if present else None
    cal = calibration(y, p)
    best = best_threshold(y, p, pos, neg, threshold)
    out = {"n": m.n, "n_fake": int(y.sum()), "n_real": int(len(y) - y.sum()), "auc": m.auc, "ap": m.ap, "eer": m.eer,
           "per_class_accuracy": m.per_class_accuracy, "balanced_accuracy": bal,
           "best_threshold": {"threshold": best.threshold, "per_class_accuracy": best.per_class_accuracy},
           "ece": cal.ece, "brier": cal.brier, "ci": None}
    if ci:
        correct = np.array(predict_at(p, vocab, threshold), str) == labels
        by_class = {v: correct[labels == v].astype(float) for v in vocab}
        out["ci"] = {
            "per_class_accuracy": {v: _interval((c,), np.mean, seed, n_resamples) for v, c in by_class.items()},
            "balanced_accuracy": _interval((by_class[pos], by_class[neg]),
                                           lambda a, b, axis=-1: (a.mean(axis) + b.mean(axis)) / 2, seed,
                                           n_resamples),
            "auc": _interval((p[y == 1], p[y == 0]), _auc, seed, n_resamples),
        }
    return out


def slice_report(ev: Evaluation, threshold: float = CONFIG.threshold, infos: dict[str, FileInfo | None] | None = None,
                columns: Sequence[str] | None = None, ci: bool = True,
                cols: dict[str, list[str]] | None = None) -> dict[str, dict[str, dict]]:
    """``{column: {value: slice_metrics}}`` for the slice columns of ``ev`` (or the named ones); rows with no
    value in a column are left out of that column. ``cols``: :func:`slice_columns` of ``ev`` already computed
    (``infos`` is then not read)."""
    cols = slice_columns(ev, infos) if cols is None else cols
    labels, p = np.asarray(ev.labels(), dtype=str), ev.p_pos()
    out: dict[str, dict[str, dict]] = {}
    for col in columns or cols:
        if col not in cols:
            raise ValueError(f"unknown slice column {col!r}; this set has {', '.join(cols) or 'none'}")
        values = np.array(cols[col])
        out[col] = {}
        for value in sorted(set(values) - {""}):
            idx = np.flatnonzero(values == value)
            out[col][value] = slice_metrics(labels[idx], p[idx], ev.vocab, threshold, ci)
    return out


def filter_slice(ev: Evaluation, columns: dict[str, list[str]], column: str, value: str) -> Evaluation:
    """The evaluation restricted to the rows whose ``column`` (of :func:`slice_columns`) is ``value``."""
    if column not in columns:
        raise ValueError(f"unknown slice column {column!r}; this set has {', '.join(columns) or 'none'}")
    return ev.take(np.flatnonzero(np.array(columns[column], dtype=object) == value))


def _pct(v: float) -> str:
    """A share as a percentage, with a decimal only where rounding would hide one (99.5% is not 100%)."""
    return f"{v:.0%}" if abs(v * 100 - round(v * 100)) < 1e-9 else f"{v:.1%}"


def diagnose(stats: dict, threshold: float, where: str = "", positive: str = "fake", negative: str = "real"
             ) -> str | None:
    """One sentence when a set or slice ranks well but thresholds badly (or does not rank at all), else ``None``.

    Args:
        stats: :func:`slice_metrics` of the set or slice.
        where: how the sentence names it, e.g. ``" on style = studio"``.
    """
    auc, best, acc = stats["auc"], stats["best_threshold"], stats["per_class_accuracy"]
    if auc is None or best["threshold"] is None:
        return None
    if auc < 0.7:
        return (f"AUC {auc:.2f}{where}: the model barely ranks {positive}s above {negative}s, so no threshold "
                "separates them.")
    worst = min((a for a in acc.values() if a is not None), default=None)
    gain = min(best["per_class_accuracy"].values()) - (worst if worst is not None else 0.0)
    if auc < 0.9 or worst is None or worst >= 0.9 or gain < 0.05:
        return None
    low_class = min((c for c, a in acc.items() if a is not None), key=lambda c: acc[c])
    side = "below" if low_class == positive else "above"
    return (f"AUC {auc:.2f}{where}: the model ranks {positive}s above {negative}s, but scores many {low_class}s "
            f"{side} {threshold:g}. At {best['threshold']:.3g}, {positive} accuracy would be "
            f"{_pct(best['per_class_accuracy'][positive])} and {negative} accuracy "
            f"{_pct(best['per_class_accuracy'][negative])}.")
