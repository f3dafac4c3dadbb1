"""The rows of an evaluation as columns, read from the store only when asked for (facefake_core/evaluation/table.py):
the same evaluation as rows read one by one, by scikit-learn's metrics and row by row."""

import csv
import math
import sqlite3

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from conftest import draw_photo
from facefake_core import evaluate
from facefake_core.evaluation import LazyRows, Row, Store, errors_by_loss, find_row
from facefake_core.evaluation import table
from facefake_core.evaluation.table import columns_of

VOCAB = ("fake", "real")


def make_manifest_set(root, n=4):
    """``n`` images per class listed in a manifest with a ``style`` and a ``source`` column."""
    lines = []
    for k, label in enumerate(VOCAB):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(draw_photo(900 + 10 * k + i, 150, 130)).save(root / label / f"{i}.png")
            lines.append({"path": f"{label}/{i}.png", "label": label, "style": "studio" if i % 2 else "casual",
                          "source": f"s{i % 3}"})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "style", "source"])
        w.writeheader()
        w.writerows(lines)
    return root / "manifest.csv"


def rows_one_by_one(ev, store):
    """The evaluation's rows as the store holds them, read the old way: each stored record made a Row."""
    stored = store.get_results(ev.model_sha, ev.column("image_sha"))
    return [Row.from_stored(row_item, h, stored[h]) for row_item, h in
            zip([r for r in _items(ev)], ev.column("image_sha"))]


def _items(ev):
    cols = ev.rows.columns
    return [cols.item(i) for i in range(len(cols))]


def same_rows(got, rows) -> bool:
    """Row by row, every field equal (CAM grids element by element: Row's own == cannot compare two arrays)."""
    got = list(got)
    assert len(got) == len(rows)
    for a, b in zip(got, rows):
        for f in ("path", "label", "style", "image_sha", "probs", "focus", "error", "bokeh_share", "face_share",
                  "meta"):
            assert getattr(a, f) == getattr(b, f), f
        assert a.class_cams.keys() == b.class_cams.keys()
        assert all(np.array_equal(a.class_cams[c], b.class_cams[c]) for c in a.class_cams)
        assert np.array_equal(a.cam, b.cam) and a.focus_dict() == b.focus_dict() and a.to_dict() == b.to_dict()
    return True


def assert_same_evaluation(ev, rows):
    """``ev`` (lazy) gives exactly ``rows``, and metrics equal to scikit-learn's on the rows' own numbers."""
    assert isinstance(ev.rows, LazyRows) and len(ev.rows) == len(rows)
    assert same_rows(ev.rows, rows)
    p = np.array([r.probs["fake"] for r in rows])
    y = np.array([r.label == "fake" for r in rows], int)
    assert ev.p_pos().tolist() == p.tolist()
    assert ev.losses().tolist() == [r.loss for r in rows]
    assert ev.labels() == [r.label for r in rows]
    m = ev.metrics(0.5)
    decided = np.where(p >= 0.5, "fake", "real")
    assert m.confusion.tolist() == confusion_matrix([r.label for r in rows], decided, labels=list(VOCAB)).tolist()
    assert m.auc == pytest.approx(roc_auc_score(y, p), abs=0) and m.ap == pytest.approx(average_precision_score(y, p),
                                                                                       abs=0)
    assert ev.column("narrow").tolist() == [-1 if r.focus is None else int(r.focus.narrow_dof) for r in rows]
    assert ev.column("meta") == {k: [r.meta.get(k, "") for r in rows] for k in ("style", "source")}


def test_lazy_rows_are_the_rows_read_one_by_one(model, tmp_path):
    manifest, store = make_manifest_set(tmp_path / "set"), Store(tmp_path / "s.sqlite")
    first = evaluate(model, manifest, store=store)  # computed here: the rows as this run holds them
    assert first.computed == 8
    assert_same_evaluation(first, rows_one_by_one(first, store))
    # Read back from the columnar copy, and from the stored rows as columns (no copy): the same evaluation.
    copied = evaluate(model, manifest, store=store)
    with sqlite3.connect(store.path) as con:
        con.execute("DELETE FROM evaluation_columns")
    read = evaluate(model, manifest, store=store)
    for ev in (copied, read):
        assert ev.computed == 0 and ev.reused == 8 and ev.source == first.source
        assert_same_evaluation(ev, list(first.rows))
        counts = {"computed": 0, "reused": 8}
        assert ev.to_dict() == {**first.to_dict(), **counts}  # what `facefake evaluate --json` prints


def test_errors_cells_and_slices_read_only_the_rows_they_show(model, tmp_path, monkeypatch):
    manifest, store = make_manifest_set(tmp_path / "set"), Store(tmp_path / "s.sqlite")
    evaluate(model, manifest, store=store)
    ev = evaluate(model, manifest, store=store)
    every = list(ev.rows)
    asked: list[list[str]] = []
    real_get = Store.get_results
    monkeypatch.setattr(Store, "get_results", lambda self, sha, keys: asked.append(list(keys)) or
                        real_get(self, sha, keys))
    fresh = evaluate(model, manifest, store=store)
    wrong = errors_by_loss(fresh, 0.5)
    expected = sorted([r for r in every if (r.probs["fake"] >= 0.5) != (r.label == "fake")],
                      key=lambda r: (-r.loss, r.path))
    assert not asked  # ordering the errors read no row
    assert same_rows(wrong[:2], expected[:2]) and len(asked) <= 1 and sum(map(len, asked)) <= 2
    assert same_rows([find_row(fresh, every[3].image_sha)], [every[3]])


def test_lazy_sequence_indexes_slices_and_takes_like_a_tuple(model, tmp_path, monkeypatch):
    manifest, store = make_manifest_set(tmp_path / "set", n=5), Store(tmp_path / "s.sqlite")
    evaluate(model, manifest, store=store)
    monkeypatch.setattr(table, "CHUNK", 3)  # iteration reads the store in several chunks
    monkeypatch.setattr(table, "KEPT", 2)  # and keeps almost nothing
    ev = evaluate(model, manifest, store=store)
    rows = tuple(ev.rows)
    assert len(rows) == 10 and same_rows([ev.rows[-1], ev.rows[3]], [rows[-1], rows[3]])
    assert same_rows(ev.rows[2:7:2], rows[2:7:2]) and same_rows(ev.rows[::-1], rows[::-1])
    assert same_rows(ev.rows.take([4, 0, 4]), [rows[4], rows[0], rows[4]])
    with pytest.raises(IndexError):
        ev.rows[10]
    sub = ev.take([1, 8])
    assert isinstance(sub.rows, LazyRows) and same_rows(sub.rows, [rows[1], rows[8]])
    assert sub.p_pos().tolist() == [rows[1].probs["fake"], rows[8].probs["fake"]]


def test_columns_of_lazy_rows_equal_those_of_the_rows_themselves(model, tmp_path):
    manifest, store = make_manifest_set(tmp_path / "set"), Store(tmp_path / "s.sqlite")
    evaluate(model, manifest, store=store)
    ev = evaluate(model, manifest, store=store)
    lazy, eager = columns_of(ev.rows, "fake"), columns_of(tuple(ev.rows), "fake")
    assert lazy.keys() == eager.keys()
    for k in lazy:
        a, b = lazy[k], eager[k]
        assert (a.tolist() == b.tolist()) if isinstance(a, np.ndarray) else a == b, k


def test_loss_column_is_row_loss_for_labels_the_model_does_not_know():
    probs = np.array([[0.25, 0.75], [1.0, 0.0], [0.5, 0.5]])
    cols = table.RowColumns(["a", "b", "c"], np.array(["real", "real", "dog"]), ["", "", ""], {},
                            np.zeros(3, bool), ["1", "2", "3"], VOCAB, probs, np.full(3, -1, np.int8))
    got = columns_of(LazyRows(cols, lambda keys: {}, Row.from_stored), "fake")["loss"].tolist()
    assert got == [-math.log(0.75), -math.log(1e-12), -math.log(1e-12)]


def test_rows_holding_cam_grids_compare_without_raising():
    cam = np.arange(4, dtype=np.float32).reshape(2, 2)
    a = Row("/x.jpg", "fake", image_sha="s", probs={"fake": 0.7, "real": 0.3}, cam=cam)
    b = Row("/x.jpg", "fake", image_sha="s", probs={"fake": 0.7, "real": 0.3}, cam=cam.copy(),
            class_cams={"fake": cam, "real": cam})
    assert a == b  # the same image and result (was: ValueError, the truth value of an array is ambiguous)
    assert a != Row("/x.jpg", "fake", image_sha="s", probs={"fake": 0.6, "real": 0.4}, cam=cam)
