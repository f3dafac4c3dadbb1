"""Tables for the pages: predictions (Batch, Compare) and slices (Hard set, Rounds). Plain functions, no Streamlit.

One row per input: thumbnail (a data URI, optional), name, decision, one ``P(<class>)`` column per class, and a
one-line error for an input that could not be read (its other cells empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

THUMB = "Thumbnail"


@dataclass(frozen=True)
class Result:
    """What a page knows about one input."""

    name: str
    probs: dict[str, float] | None = None
    error: str | None = None
    thumb: str | None = None  # data URI


def prediction_frame(results: Sequence[Result], vocab: Sequence[str], thumbs: bool = True) -> pd.DataFrame:
    """A table of results: ``[Thumbnail,] Name, Prediction, P(c)..., Error``; the decision is the arg-max class."""
    rows = []
    for r in results:
        row = {THUMB: r.thumb} if thumbs else {}
        row["Name"] = r.name
        row["Prediction"] = max(r.probs, key=r.probs.get) if r.probs else None
        for c in vocab:
            row[f"P({c})"] = r.probs.get(c) if r.probs else None
        row["Error"] = r.error or ""
        rows.append(row)
    cols = ([THUMB] if thumbs else []) + ["Name", "Prediction", *(f"P({c})" for c in vocab), "Error"]
    return pd.DataFrame(rows, columns=cols)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV, without the thumbnail column."""
    return frame.drop(columns=[THUMB], errors="ignore").to_csv(index=False).encode("utf-8")


def slice_frame(values: dict[str, dict], vocab: Sequence[str]) -> pd.DataFrame:
    """One line per value of a slice column (:func:`facefake_core.analysis.slice_report`): counts, AUC, AP, EER,
    accuracy per class and balanced, the best threshold, ECE and Brier, and the 95% intervals where computed."""
    rows = []
    for value, s in values.items():
        ci = s.get("ci") or {}
        row = {"value": value, "n": s["n"], "n_fake": s["n_fake"], "n_real": s["n_real"], "AUC": s["auc"],
               "AP": s["ap"], "EER": s["eer"]}
        for c in vocab:
            row[f"{c} accuracy"] = s["per_class_accuracy"].get(c)
        row["balanced accuracy"] = s["balanced_accuracy"]
        row["best threshold"] = s["best_threshold"]["threshold"]
        for c in vocab:
            row[f"{c} acc. at best"] = s["best_threshold"]["per_class_accuracy"].get(c)
        row["ECE"], row["Brier"] = s["ece"], s["brier"]
        if ci:
            fmt = lambda iv: "" if iv is None else f"{iv[0]:.2f}–{iv[1]:.2f}"  # noqa: E731
            row["AUC 95% CI"] = fmt(ci["auc"])
            for c in vocab:
                row[f"{c} acc. 95% CI"] = fmt(ci["per_class_accuracy"].get(c))
        rows.append(row)
    return pd.DataFrame(rows)
