"""The rows of an evaluated set as columns, and rows read from the store only when asked for.

A page over 100,000 rows aggregates a few numbers per row (the probabilities, the true class, the loss, whether the
photo has a narrow depth of field, the manifest's columns); it shows full rows (CAM grids, focus measures) only for
a gallery page or a detail view. :func:`~.runner.evaluate` therefore reads the store's rows as columns
(:meth:`~.store.Store.result_columns`: the probabilities and two focus scalars, no CAM blob, no focus JSON) and
returns a :class:`LazyRows`: a sequence of :class:`~.rows.Row` whose items are read from the store, a chunk at a
time, when indexed or iterated, and are then exactly the rows an eager read gives (``Row.from_stored`` of the
stored record). Any sequence of rows (a tuple built by hand) gives the same columns through :func:`columns_of`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .hardset import Item
from .store import StoredResult

#: Rows read from the store per query when a lazy sequence is iterated, and how many are kept once read (least
#: recent dropped): enough that a page walking every row of a large set (Depth of field, the Map) reads it once, as
#: an eager evaluation held them all; the Hard set page reads only the rows it shows.
CHUNK = 512
KEPT = 250_000


@dataclass(frozen=True)
class RowColumns:
    """What a page aggregates over every row, in row order.

    Attributes:
        paths, labels, styles, shas: each row's file, true class, style and image sha256 (``labels`` a str array).
        meta: manifest column -> each row's value (``""`` where a row has none); ``has_meta`` (bool ``(n,)``) says
            which rows carry them (:attr:`~.hardset.Item.meta` is then every column, else empty).
        classes: the classes of ``probs``' columns, in the order of each row's ``probs`` dict.
        probs: float64 ``(n, len(classes))`` probabilities.
        narrow: int8 ``(n,)``: 1 narrow depth of field, 0 sharp, -1 no focus measures.
    """

    paths: list[str]
    labels: np.ndarray
    styles: list[str]
    meta: dict[str, list[str]]
    has_meta: np.ndarray
    shas: list[str]
    classes: tuple[str, ...]
    probs: np.ndarray
    narrow: np.ndarray
    items: tuple[Item, ...] | None = None  # only for items whose meta columns differ from row to row

    @classmethod
    def of(cls, items: Sequence[Item], shas: Sequence[str], classes: Sequence[str], probs: np.ndarray,
           narrow: np.ndarray) -> "RowColumns":
        """The columns of set items (whose ``meta`` holds the same columns, or none) and their stored results."""
        keys = list(dict.fromkeys(k for it in items for k in it.meta))
        uneven = any(it.meta and list(it.meta) != keys for it in items)
        return cls([it.path for it in items], np.array([it.label for it in items], dtype=str),
                   [it.style for it in items], {k: [it.meta.get(k, "") for it in items] for k in keys},
                   np.array([bool(it.meta) for it in items], bool), list(shas), tuple(classes), probs, narrow,
                   tuple(items) if uneven else None)

    def __len__(self) -> int:
        return len(self.paths)

    def item(self, i: int) -> Item:
        """Row ``i``'s set item."""
        if self.items is not None:
            return self.items[i]
        meta = {k: v[i] for k, v in self.meta.items()} if self.has_meta[i] else {}
        return Item(self.paths[i], str(self.labels[i]), self.styles[i], meta)

    def take(self, idx: np.ndarray) -> "RowColumns":
        """The rows at the integer positions ``idx``, in that order."""
        pick = lambda seq: [seq[i] for i in idx]  # noqa: E731
        return RowColumns(pick(self.paths), self.labels[idx], pick(self.styles),
                          {k: pick(v) for k, v in self.meta.items()}, self.has_meta[idx], pick(self.shas),
                          self.classes, self.probs[idx], self.narrow[idx],
                          None if self.items is None else tuple(pick(self.items)))


def _row_probs(cols: RowColumns, i: int) -> dict[str, float]:
    return {c: float(p) for c, p in zip(cols.classes, cols.probs[i])}


class LazyRows(Sequence):
    """The rows of an evaluation, read from the store when indexed or iterated (see the module's docstring).

    Args:
        cols: the rows' columns.
        fetch: image shas -> their stored records (:meth:`~.store.Store.get_results` of the model).
        make: ``(item, image sha, stored record) -> Row`` (:meth:`~.rows.Row.from_stored`).
    """

    def __init__(self, cols: RowColumns, fetch: Callable[[list[str]], dict[str, StoredResult]],
                 make: Callable[[Item, str, StoredResult], object], _kept: "OrderedDict | None" = None,
                 _lock: threading.Lock | None = None) -> None:
        self.columns = cols
        self._fetch, self._make = fetch, make
        self._kept = OrderedDict() if _kept is None else _kept  # shared with the sequences taken from this one
        self._lock = _lock or threading.Lock()

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        n = len(self)
        i = key + n if -n <= key < 0 else key
        if not 0 <= i < n:
            raise IndexError("row index out of range")
        return self._rows(np.arange(i, min(i + 1, n)))[0]

    def __iter__(self) -> Iterator:
        for start in range(0, len(self), CHUNK):
            yield from self._rows(np.arange(start, min(start + CHUNK, len(self))))

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyRows({len(self)} rows)"

    def take(self, idx: Sequence[int] | np.ndarray) -> "LazyRows":
        """The rows at the integer positions ``idx``, in that order, still unread."""
        return LazyRows(self.columns.take(np.asarray(idx, dtype=np.intp)), self._fetch, self._make, self._kept,
                        self._lock)

    def _rows(self, idx: np.ndarray) -> list:
        cols = self.columns
        keys = [(cols.paths[i], cols.shas[i]) for i in idx]
        with self._lock:
            kept = {k: self._kept[k] for k in keys if k in self._kept}
        missing = list(dict.fromkeys(h for path, h in keys if (path, h) not in kept))
        stored = self._fetch(missing) if missing else {}
        out = []
        for i, key in zip(idx, keys):
            row = kept.get(key)
            if row is None:
                h = key[1]
                s = stored.get(h)
                if s is None:  # gone from the store since: the columns still hold its probabilities
                    s = StoredResult(_row_probs(cols, i), None, None, None)
                row = kept[key] = self._make(cols.item(i), h, s)
            out.append(row)
        with self._lock:
            for key, row in kept.items():
                self._kept[key] = row
                self._kept.move_to_end(key)
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return out


def columns_of(rows: Sequence, positive: str) -> dict[str, np.ndarray | list]:
    """The columns a page reads, in row order: ``p_pos`` (float), ``label`` (str), ``loss`` (float, exactly
    :attr:`~.rows.Row.loss`), ``path`` and ``image_sha`` (lists), ``meta`` (manifest column -> each row's value, ``""`` where it has none) and
    ``narrow`` (int8: 1 narrow depth of field, 0 sharp, -1 no focus measures). From a :class:`LazyRows`' columns
    without reading any row, else from the rows themselves."""
    if isinstance(rows, LazyRows):
        c = rows.columns
        col = {k: c.probs[:, j] for j, k in enumerate(c.classes)}
        zero, own = np.zeros(len(c)), np.zeros(len(c))
        for k in c.classes:  # P(true class), 0 for a label the model does not know (as Row.loss)
            own = np.where(c.labels == k, col[k], own)
        return {"p_pos": col.get(positive, zero).astype(float), "label": c.labels, "loss": _losses(own),
                "path": c.paths, "image_sha": c.shas, "meta": c.meta, "narrow": c.narrow}
    keys = list(dict.fromkeys(k for r in rows for k in r.meta))
    return {"p_pos": np.array([r.probs[positive] for r in rows], float),
            "label": np.array([r.label for r in rows], dtype=str),
            "loss": np.array([r.loss for r in rows], float), "path": [r.path for r in rows],
            "image_sha": [r.image_sha for r in rows], "meta": {k: [r.meta.get(k, "") for r in rows] for k in keys},
            "narrow": np.array([-1 if r.focus is None else int(r.focus.narrow_dof) for r in rows], np.int8)}


def _losses(p_true: np.ndarray) -> np.ndarray:
    """``-log(max(p, 1e-12))`` with ``math.log``, the very numbers :attr:`~.rows.Row.loss` gives."""
    return np.fromiter((-math.log(max(p, 1e-12)) for p in p_true.tolist()), float, len(p_true))


def take_rows(rows: Sequence, idx: Sequence[int] | np.ndarray) -> Sequence:
    """The rows at positions ``idx``: still unread for a :class:`LazyRows`, else a list."""
    if isinstance(rows, LazyRows):
        return rows.take(idx)
    return [rows[i] for i in np.asarray(idx, dtype=np.intp)]
