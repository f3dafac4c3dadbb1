"""Prediction tables for the Batch and Compare pages. Plain functions, no Streamlit.

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
