"""The rows of an evaluated set and the evaluation they make up: what :func:`~.runner.evaluate` returns and the
pages, the CLI and the analyses read. Metrics at any threshold, calibration and the best threshold come from the
rows' probabilities, read into arrays once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import CONFIG
from ..imaging.focus import FocusMeasures
from .calibration import BestThreshold, Calibration, best_threshold, calibration
from .hardset import Item
from .metrics import Metrics, compute, positive_class
from .store import StoredResult
from .table import LazyRows, columns_of, take_rows


@dataclass(frozen=True)
class Row:
    """One image of an evaluated set. ``error`` is set (and the rest empty) when the file was unreadable.

    Attributes:
        cam: float32 ``(h, w)`` raw CAM grid of the predicted class on the target layer, or ``None``.
        class_cams: class -> float32 ``(h, w)`` raw CAM grid explaining that class (:meth:`cam_for`); empty for a
            row stored before every class's CAM was (its next evaluation fills them in) or without CAMs.
        focus: the photo's depth-of-field measures (without the block map), or ``None``.
        bokeh_share, face_share: shares of the CAM's mass on defocused blocks and on the face box
            (as :func:`~facefake_core.imaging.focus.cam_in_bokeh` defines them; worked out from the grid by
            :func:`~facefake_core.imaging.shares.cam_shares`), or ``None`` without CAM or focus measures.
    """

    path: str
    label: str
    style: str = ""
    image_sha: str = ""
    probs: dict[str, float] = field(default_factory=dict)
    cam: np.ndarray | None = field(default=None, repr=False, compare=False)  # an array: ``==`` would raise
    focus: FocusMeasures | None = None
    error: str | None = None
    bokeh_share: float | None = None
    face_share: float | None = None
    meta: dict[str, str] = field(default_factory=dict, compare=False)
    class_cams: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_stored(cls, item: Item, image_sha: str, s: StoredResult) -> "Row":
        """A set item's row from the store's record (whose focus dict holds the measures and the CAM's shares)."""
        f = s.focus or {}
        return cls(item.path, item.label, item.style, image_sha, s.probs, s.cam,
                   FocusMeasures.from_dict(f) if f else None, bokeh_share=f.get("bokeh_share"),
                   face_share=f.get("face_share"), meta=item.meta,
                   class_cams={} if s.class_cams is None else dict(zip(s.probs, s.class_cams)))

    def cam_for(self, cls: str) -> np.ndarray | None:
        """The raw CAM grid explaining class ``cls``, or ``None`` when none is stored for that class (never another
        class's map). A row from before every class was stored still has its predicted class's (``cam``)."""
        if cls in self.class_cams:
            return self.class_cams[cls]
        return self.cam if cls == self.pred else None

    def focus_dict(self) -> dict | None:
        """The focus measures and the CAM's shares as one JSON-safe dict (what ``--json`` prints), or ``None``."""
        if self.focus is None:
            return None
        shares = {"bokeh_share": self.bokeh_share, "face_share": self.face_share}
        return {**self.focus.to_dict(), **{k: v for k, v in shares.items() if v is not None}}

    @property
    def pred(self) -> str:
        return max(self.probs, key=self.probs.get) if self.probs else ""

    @property
    def loss(self) -> float:
        """Cross-entropy of the true class: how wrong the model was."""
        return -math.log(max(self.probs.get(self.label, 0.0), 1e-12))

    def to_dict(self) -> dict:
        if self.error:
            return {"path": self.path, "error": self.error}
        d = {"path": self.path, "label": self.label, "pred": self.pred, "probs": self.probs}
        if self.style:
            d["style"] = self.style
        if self.focus is not None:
            d["focus"] = self.focus_dict()
        return d


@dataclass(frozen=True)
class Evaluation:
    """A model's results on a hard set; metrics at any threshold come from :meth:`metrics`."""

    model_sha: str
    vocab: tuple[str, ...]
    source: str
    rows: Sequence[Row]  # a tuple, or the LazyRows that evaluate() returns (rows read from the store when asked for)
    errors: tuple[Row, ...]
    computed: int
    reused: int
    engine: str = "local"

    @property
    def positive(self) -> str:
        return positive_class(self.vocab)

    @functools.cached_property
    def _columns(self) -> dict:
        """The columns a page reads (:func:`~.table.columns_of`), read once (a page asks for them many times, and
        100,000 rows take a noticeable time to walk, or to read from the store); callers get copies."""
        return columns_of(self.rows, self.positive)

    def column(self, name: str) -> np.ndarray | list:
        """A copy of one of :func:`~.table.columns_of`'s columns (``path``, ``image_sha``, ``meta``, ``narrow``
        ...), in row order, without reading the rows of a lazy evaluation."""
        value = self._columns[name]
        return {k: list(v) for k, v in value.items()} if isinstance(value, dict) else value.copy()

    def take(self, idx: Sequence[int] | np.ndarray) -> "Evaluation":
        """The evaluation restricted to the rows at positions ``idx`` (in that order); a lazy one stays lazy."""
        rows = take_rows(self.rows, idx)
        return dataclasses.replace(self, rows=rows if isinstance(rows, LazyRows) else tuple(rows))

    def p_pos(self) -> np.ndarray:
        """P(positive) of each row, in row order (float ``(n,)``)."""
        return self._columns["p_pos"].copy()

    def labels(self) -> list[str]:
        """The true class of each row, in row order."""
        return self._columns["label"].tolist()

    def losses(self) -> np.ndarray:
        """Each row's :attr:`Row.loss` (cross-entropy of the true class), in row order (float ``(n,)``)."""
        return self._columns["loss"].copy()

    @functools.cached_property
    def _memo(self) -> dict:
        """Metrics, calibration and best threshold already computed (a page asks for them more than once per run,
        and each takes a noticeable time at 100,000 rows); the evaluation never changes, so neither do they."""
        return {}

    def _remember(self, key: tuple, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def metrics(self, threshold: float = CONFIG.threshold) -> Metrics:
        return self._remember(("metrics", threshold), lambda: compute(
            self._columns["label"], self._columns["p_pos"], self.vocab, threshold))

    def y(self) -> np.ndarray:
        """1 for each row of the positive class (fake), else 0, in row order."""
        return (self._columns["label"] == self.positive).astype(int)

    def calibration(self) -> Calibration:
        return self._remember(("calibration",), lambda: calibration(self.y(), self.p_pos()))

    def best_threshold(self, near: float = CONFIG.threshold) -> BestThreshold:
        negative = next(v for v in self.vocab if v != self.positive)
        return self._remember(("best", near), lambda: best_threshold(self.y(), self.p_pos(), self.positive,
                                                                     negative, near))

    def to_dict(self, threshold: float = CONFIG.threshold) -> dict:
        return {**self.metrics(threshold).to_dict(), "calibration": self.calibration().to_dict(),
                "best_threshold": self.best_threshold(threshold).to_dict(), "computed": self.computed,
                "reused": self.reused, "engine": self.engine, "rows": [r.to_dict() for r in self.rows],
                "errors": [r.to_dict() for r in self.errors]}
