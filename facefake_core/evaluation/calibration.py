"""Calibration and the threshold shift: how far P(fake) can be read as a probability, the cut that would serve a
set best, and a fitted correction to try as a what-if.

Definitions (P(fake) is the score, fake the positive class, ``y`` is 1 for fake):

* **ECE**: 10 equal-width bins of P(fake) on ``[0, 1]`` (the last bin closed), ``sum_b (n_b / N) *
  |mean P(fake) in b - fraction fake in b|``;
* **Brier**: ``mean((P(fake) - y) ** 2)`` (scikit-learn's ``brier_score_loss``);
* **best threshold**: the P(fake) cut (an image is fake when ``P >= t``) that maximises balanced accuracy, searched
  over scikit-learn's ROC thresholds (every distinct score), ties to the cut nearest the chosen threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss, log_loss, roc_curve

N_BINS = 10
#: How far from 0 and 1 scores are kept before taking logits (a saturated softmax gives exactly 0 or 1).
_EPS = 1e-7


@dataclass(frozen=True)
class Calibration:
    """ECE, Brier and the reliability bins (``bins``: ``{lo, hi, n, mean_p_fake, frac_fake}``; empty bins have
    ``None`` means)."""

    ece: float | None
    brier: float | None
    bins: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {"ece": self.ece, "brier": self.brier, "bins": list(self.bins)}


def calibration(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> Calibration:
    """ECE, Brier and reliability bins of scores ``p`` (P(fake)) against ``y`` (1 = fake)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)  # [lo, hi) in exact tenths; 1.0 in the last bin
    bins, ece = [], 0.0
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        mean_p, frac = (float(p[m].mean()), float(y[m].mean())) if n else (None, None)
        if n:
            ece += n / len(p) * abs(mean_p - frac)
        bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": n, "mean_p_fake": mean_p,
                     "frac_fake": frac})
    if not len(p):
        return Calibration(None, None, tuple(bins))
    return Calibration(float(ece), float(brier_score_loss(y, p)), tuple(bins))


@dataclass(frozen=True)
class BestThreshold:
    """The cut on P(fake) that maximises balanced accuracy, and each class's accuracy there."""

    threshold: float | None
    balanced_accuracy: float | None
    per_class_accuracy: dict[str, float | None]

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "balanced_accuracy": self.balanced_accuracy,
                "per_class_accuracy": self.per_class_accuracy}


def best_threshold(y: np.ndarray, p: np.ndarray, positive: str, negative: str, near: float = 0.5) -> BestThreshold:
    """The balanced-accuracy-maximising cut (see the module docstring); ``None`` when one class is absent."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    if not 0 < y.sum() < len(y):
        return BestThreshold(None, None, {positive: None, negative: None})
    fpr, tpr, thr = roc_curve(y, p)
    thr = np.minimum(thr, 1.0)  # scikit-learn's first threshold is +inf (nothing called fake)
    bal = (tpr + 1 - fpr) / 2
    best = np.flatnonzero(np.isclose(bal, bal.max(), rtol=0, atol=1e-12))
    i = best[np.argmin(np.abs(thr[best] - near))]
    return BestThreshold(float(thr[i]), float(bal[i]), {positive: float(tpr[i]), negative: float(1 - fpr[i])})


@dataclass(frozen=True)
class Recalibration:
    """A fitted correction of the logit of P(fake): ``logit(p') = logit(p) / temperature + bias``.

    ``kind`` is ``"bias"`` (temperature fixed at 1) or ``"temperature"`` (bias fixed at 0); ``fitted_on`` names the
    set it was fitted on, so a page can say whether it is the set being shown.
    """

    kind: str
    bias: float
    temperature: float
    fitted_on: str

    def apply(self, p: np.ndarray) -> np.ndarray:
        z = logit(np.clip(np.asarray(p, float), _EPS, 1 - _EPS))
        return expit(z / self.temperature + self.bias)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "bias": self.bias, "temperature": self.temperature, "fitted_on": self.fitted_on}


def fit_recalibration(y: Sequence[int], p: Sequence[float], kind: str = "bias", fitted_on: str = "") -> Recalibration:
    """Fit a logit bias or a temperature by minimising the log loss (scipy's bounded scalar minimiser).

    Raises:
        ValueError: an unknown ``kind``, or a set without both classes.
    """
    y_, p_ = np.asarray(y, int), np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
    if not 0 < y_.sum() < len(y_):
        raise ValueError("a recalibration needs both classes in the set it is fitted on")
    z = logit(p_)
    if kind == "bias":
        res = minimize_scalar(lambda b: log_loss(y_, expit(z + b), labels=[0, 1]), bounds=(-30, 30),
                              method="bounded")
        return Recalibration("bias", float(res.x), 1.0, fitted_on)
    if kind == "temperature":
        res = minimize_scalar(lambda lt: log_loss(y_, expit(z / np.exp(lt)), labels=[0, 1]), bounds=(-5, 5),
                              method="bounded")
        return Recalibration("temperature", 0.0, float(np.exp(res.x)), fitted_on)
    raise ValueError(f"unknown recalibration {kind!r}; choose bias or temperature")
