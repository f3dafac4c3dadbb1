"""Browsing an evaluated hard set: confusion-matrix cells, errors ordered by loss, stored heatmaps. (Which cell a
chart click picked is the dashboard's business: ``dashboard/selection.py``.)

Everything here works on an :class:`~facefake_core.evaluation.Evaluation` at a decision threshold on P(fake); no
function runs the model. Rows come back most-wrong first (highest cross-entropy of the true class), so the
images that teach the most are on top.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..imaging.geometry import map_to_photo
from ..model import Preprocessing
from .metrics import predict_at
from .rows import Evaluation, Row
from .table import take_rows

Cell = tuple[str, str]  # (true class, predicted class)


def decisions(ev: Evaluation, threshold: float) -> list[str]:
    """The predicted class of each row of ``ev`` at ``threshold`` on P(positive), in row order."""
    return predict_at(ev.p_pos(), ev.vocab, threshold)


def by_loss(rows: Sequence[Row]) -> list[Row]:
    """Rows ordered most-wrong first (loss descending); ties keep a stable order by path."""
    return sorted(rows, key=lambda r: (-r.loss, r.path))


def _most_wrong(ev: Evaluation, keep: np.ndarray) -> Sequence[Row]:
    """The rows where ``keep`` (boolean, in row order) is true, in :func:`by_loss` order, sorted in numpy (a list, or
    still unread rows of a lazy evaluation: a page reads only those it shows)."""
    idx = np.flatnonzero(keep)
    if not len(idx):
        return []
    paths = np.array(ev.column("path"), dtype=str)[idx]
    order = np.lexsort((paths, -ev.losses()[idx]))  # the last key sorts first; both sorts are stable
    return take_rows(ev.rows, idx[order])


def most_wrong_first(ev: Evaluation) -> Sequence[Row]:
    """Every row of ``ev`` in :func:`by_loss` order (sorted in numpy; see :func:`_most_wrong`)."""
    return _most_wrong(ev, np.ones(len(ev.rows), bool))


def rows_in_cell(ev: Evaluation, threshold: float, true: str, pred: str) -> Sequence[Row]:
    """The rows whose true class is ``true`` and whose decision at ``threshold`` is ``pred``, most-wrong first.

    Raises:
        ValueError: ``true`` or ``pred`` is not one of the evaluation's classes.
    """
    for name in (true, pred):
        if name not in ev.vocab:
            raise ValueError(f"unknown class {name!r}; choose one of {', '.join(ev.vocab)}")
    labels, decided = np.array(ev.labels(), dtype=str), np.array(decisions(ev, threshold), dtype=str)
    return _most_wrong(ev, (labels == true) & (decided == pred))


def errors_by_loss(ev: Evaluation, threshold: float) -> Sequence[Row]:
    """Every row misclassified at ``threshold``, most-wrong first."""
    return _most_wrong(ev, np.array(ev.labels(), dtype=str) != np.array(decisions(ev, threshold), dtype=str))


def find_row(ev: Evaluation, image_sha: str) -> Row | None:
    """The row of an image by its content hash, or ``None`` (e.g. a stale deep link)."""
    shas = ev.column("image_sha")
    return ev.rows[shas.index(image_sha)] if image_sha in shas else None


def stored_cam(row: Row, cls: str | None = None) -> np.ndarray:
    """The raw CAM grid stored with an evaluated row: the target layer's GradCAM of class ``cls`` (default: the
    predicted class).

    Raises:
        ValueError: no map of that class is stored for the row (evaluated without CAMs, or stored before every
            class's map was and not evaluated since).
    """
    cam = row.cam if cls is None else row.cam_for(cls)
    if cam is not None:
        return cam
    if row.cam is None:
        raise ValueError(f"{row.path}: no CAM was stored for this image; evaluate it again with CAMs")
    raise ValueError(f"{row.path}: no stored map of class {cls!r} (stored before every class's map was); "
                     "evaluate the set again to fill it in")


def stored_heatmap(row: Row, prep: Preprocessing, photo_hw: tuple[int, int], vmax: float | None = None,
                   cls: str | None = None) -> np.ndarray:
    """The heatmap of an evaluated row, from its stored CAM grid (no model run).

    Args:
        row: a row with stored CAMs (the target layer's GradCAM of each class).
        prep: the evaluating model's preprocessing (it fixes the crop box).
        photo_hw: ``(H, W)`` of the upright photo.
        vmax: shared colour scale; ``None`` normalises this map alone.
        cls: the class whose map is drawn (default: the predicted class).

    Returns:
        float32 ``(H, W)`` in [0, 1], zero outside the crop box.

    Raises:
        ValueError: no map of that class is stored (see :func:`stored_cam`).
    """
    h, w = photo_hw
    return map_to_photo(stored_cam(row, cls), prep.crop_box(w, h), (h, w), vmax)
