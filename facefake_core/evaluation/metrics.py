"""Hard-set metrics at any threshold on P(fake), from scikit-learn.

Scores are the probability of the *positive* class, which is ``fake`` when the vocab has it (the class a
detector exists to catch), else the first class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve


def positive_class(vocab: Sequence[str]) -> str:
    low = [v.lower() for v in vocab]
    return vocab[low.index("fake")] if "fake" in low else vocab[0]


def predict_at(p_pos: np.ndarray, vocab: Sequence[str], threshold: float) -> list[str]:
    """Binary decision: the positive class when its probability is at least ``threshold``, else the other one."""
    pos = positive_class(vocab)
    neg = next(v for v in vocab if v != pos)
    return np.where(np.asarray(p_pos, float) >= threshold, pos, neg).tolist()


def _as_str(labels: Sequence[str]) -> np.ndarray:
    """Labels as one numpy string array (no copy when they are one already)."""
    return np.asarray(labels, dtype=str)


def _is_positive(labels: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
    """Boolean ``(n,)``: which labels are the positive class."""
    return _as_str(labels) == positive_class(vocab)


def _confusion(labels: Sequence[str], preds: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
    """scikit-learn's ``confusion_matrix(labels, preds, labels=vocab)`` (int64, rows true, columns predicted, other
    labels left out), counted with one numpy comparison per cell: scikit-learn maps string labels to indices in a
    Python loop, which at 100,000 rows is most of a page's time."""
    t, p = _as_str(labels), _as_str(preds)
    is_t, is_p = [t == v for v in vocab], [p == v for v in vocab]
    return np.array([[np.count_nonzero(a & b) for b in is_p] for a in is_t], np.int64).reshape(len(vocab), -1)


@dataclass(frozen=True)
class Metrics:
    """Metrics of one model on one set at one threshold (``to_dict()`` is the CLI's JSON)."""

    labels: tuple[str, ...]
    threshold: float
    confusion: np.ndarray  # rows = true class, cols = predicted, in ``labels`` order
    per_class_accuracy: dict[str, float | None]
    accuracy: float | None
    auc: float | None
    ap: float | None
    eer: float | None
    n: int

    def to_dict(self) -> dict:
        return {"n": self.n, "labels": list(self.labels), "threshold": self.threshold,
                "confusion": self.confusion.tolist(), "per_class_accuracy": self.per_class_accuracy,
                "accuracy": self.accuracy, "auc": self.auc, "ap": self.ap, "eer": self.eer}

    def seed_table(self) -> dict[str, float | None]:
        """The seed README's form: ``{"Real Accuracy": ..., "Fake Accuracy": ...}`` (one entry per class)."""
        return {f"{c.capitalize()} Accuracy": a for c, a in sorted(self.per_class_accuracy.items(), reverse=True)}


def equal_error_rate(y: np.ndarray, score: np.ndarray) -> float:
    """The rate where false-positive and false-negative rates meet, interpolated on scikit-learn's ROC."""
    fpr, tpr, _ = roc_curve(y, score)
    fnr = 1 - tpr
    diff = fnr - fpr
    i = int(np.nonzero(diff <= 0)[0][0])  # fnr falls, fpr rises: first point where they have crossed
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def compute(labels: Sequence[str], p_pos: Sequence[float], vocab: Sequence[str], threshold: float = 0.5) -> Metrics:
    """Confusion matrix, per-class accuracy, AUC, AP and EER.

    Args:
        labels: true class of each image.
        p_pos: probability of the positive class (P(fake)) of each image.
        vocab: the classes, in the order the confusion matrix uses.
        threshold: decision threshold on ``p_pos``.
    """
    labels = _as_str(labels)  # one array, compared as a whole (a list of 100,000 strings is slow to convert)
    score = np.asarray(p_pos, float)
    pos = positive_class(vocab)
    preds = np.where(score >= threshold, pos, next(v for v in vocab if v != pos))  # predict_at, as an array
    cm = _confusion(labels, preds, vocab)
    rows = cm.sum(1)
    per_class = {v: (float(cm[i, i] / rows[i]) if rows[i] else None) for i, v in enumerate(vocab)}
    y = labels == pos
    both = 0 < y.sum() < len(y)
    return Metrics(
        labels=tuple(vocab), threshold=float(threshold), confusion=cm, per_class_accuracy=per_class,
        accuracy=float(np.trace(cm) / cm.sum()) if cm.sum() else None,
        auc=float(roc_auc_score(y, score)) if both else None,
        ap=float(average_precision_score(y, score)) if both else None,
        eer=equal_error_rate(y, score) if both else None,
        n=len(labels))


def curves(labels: Sequence[str], p_pos: Sequence[float], vocab: Sequence[str]) -> dict[str, np.ndarray]:
    """ROC and precision-recall curves for plotting: ``fpr, tpr, roc_thresholds, precision, recall``."""
    y = _is_positive(labels, vocab)
    fpr, tpr, thr = roc_curve(y, np.asarray(p_pos, float))
    precision, recall, _ = precision_recall_curve(y, np.asarray(p_pos, float))
    return {"fpr": fpr, "tpr": tpr, "roc_thresholds": thr, "precision": precision, "recall": recall}
