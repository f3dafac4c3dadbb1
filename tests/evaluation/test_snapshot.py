"""The columnar copy of an evaluation (facefake_core/evaluation/snapshot.py): read back while nothing changed, never
once a file, the manifest, the model's stored rows or the store's tables have; and stores of older schemas."""

import os
import sqlite3

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo
from facefake_core import evaluate
from facefake_core.evaluation import Store
from facefake_core.evaluation import snapshot
from test_table import make_manifest_set, same_rows


@pytest.fixture
def evaluated(model, tmp_path):
    manifest, store = make_manifest_set(tmp_path / "set"), Store(tmp_path / "s.sqlite")
    first = evaluate(model, manifest, store=store)
    return model, manifest, store, first


def _copy(model, manifest, store):
    return snapshot.load(store, model.info.sha256, os.path.abspath(manifest), model.vocab)


def _no_model_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("model work")

    monkeypatch.setattr("facefake_core.evaluation.runner.predict_and_cam", boom)
    monkeypatch.setattr("facefake_core.evaluation.runner.measure_focus", boom)


def test_an_evaluation_with_nothing_left_to_do_is_read_back_from_its_copy(evaluated, monkeypatch):
    model, manifest, store, first = evaluated
    cols = _copy(model, manifest, store)
    assert cols is not None and cols.paths == first.column("path") and cols.shas == first.column("image_sha")
    monkeypatch.setattr("facefake_core.evaluation.runner.discover", lambda *a, **k: pytest.fail("read the manifest"))
    again = evaluate(model, manifest, store=store)
    assert again.computed == 0 and same_rows(again.rows, list(first.rows))


def test_a_changed_file_is_evaluated_again(evaluated):
    model, manifest, store, first = evaluated
    path = first.column("path")[0]
    Image.fromarray(draw_photo(4242, 150, 130)).save(path)  # new content, new stat
    assert _copy(model, manifest, store) is None
    again = evaluate(model, manifest, store=store)
    assert again.computed == 1 and again.rows[0].image_sha != first.rows[0].image_sha
    assert again.rows[0].probs == pytest.approx(model.predict(path).probs, abs=1e-5)


def test_a_file_swapped_for_another_with_the_same_size_and_time_is_seen(evaluated):
    model, manifest, store, first = evaluated
    a, b = first.column("path")[:2]
    st = os.stat(a)
    os.replace(b, a)  # another inode at the same path, given the old size and times
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    if os.stat(a).st_size == st.st_size:
        assert _copy(model, manifest, store) is None


def test_a_new_manifest_line_is_a_new_row(evaluated, tmp_path):
    model, manifest, store, first = evaluated
    Image.fromarray(draw_photo(777, 150, 130)).save(tmp_path / "set" / "fake" / "new.png")
    with open(manifest, "a") as f:
        f.write("fake/new.png,fake,casual,s9\n")
    assert _copy(model, manifest, store) is None
    again = evaluate(model, manifest, store=store)
    assert len(again.rows) == len(first.rows) + 1 and again.computed == 1
    assert again.rows[-1].meta == {"style": "casual", "source": "s9"}


@pytest.mark.parametrize("change", ["new row", "focus", "class cams", "features", "raw sql", "dropped table"])
def test_any_change_to_the_model_s_stored_rows_makes_the_copy_stale(evaluated, change, monkeypatch):
    model, manifest, store, first = evaluated
    sha, h = model.info.sha256, first.rows[0].image_sha
    if change == "new row":  # an image of another set, evaluated by the same model
        store.put_results(sha, [("0" * 64, {"fake": 0.5, "real": 0.5}, None, None, None)])
    elif change == "focus":
        store.put_result_focus(sha, [(h, {"focus_version": -1})])
    elif change == "class cams":
        store.put_class_cams(sha, [(h, np.zeros((2, 4, 4), np.float32))])
    elif change == "features":
        store.put_features(sha, [(h, np.ones(8))])
    elif change == "raw sql":  # a writer that knows nothing of the copies (code of schema 3, a script)
        with sqlite3.connect(store.path) as con:
            con.execute("DELETE FROM class_cams WHERE model_sha=? AND image_sha=?", (sha, h))
    else:  # dropping a table fires no trigger; SQLite's schema version counts it
        with sqlite3.connect(store.path) as con:
            con.execute("DROP TABLE features")
        store = Store(store.path)
    assert _copy(model, manifest, store) is None
    if change in ("raw sql", "dropped table"):  # and the next evaluation fills in what is missing, as before
        again = evaluate(model, manifest, store=store)
        assert again.computed == 0 and _copy(model, manifest, store) is not None


def test_another_model_s_rows_leave_the_copy_valid(evaluated):
    model, manifest, store, first = evaluated
    store.put_results("other" * 8, [(first.rows[0].image_sha, {"fake": 0.5, "real": 0.5}, None, None, None)])
    assert _copy(model, manifest, store) is not None


def test_sets_with_unreadable_files_have_no_copy(model, tmp_path):
    manifest = make_manifest_set(tmp_path / "set")
    (tmp_path / "set" / "fake" / "0.png").write_bytes(b"not an image")
    store = Store(tmp_path / "s.sqlite")
    ev = evaluate(model, manifest, store=store)
    assert len(ev.errors) == 1 and _copy(model, manifest, store) is None
    assert len(evaluate(model, manifest, store=store).errors) == 1


def test_a_folder_set_is_walked_again(model, tmp_path):
    root = make_manifest_set(tmp_path / "set").parent
    store = Store(tmp_path / "s.sqlite")
    first = evaluate(model, root, store=store)
    assert snapshot.load(store, model.info.sha256, str(root), model.vocab) is not None
    Image.fromarray(draw_photo(555, 150, 130)).save(root / "real" / "extra.png")
    assert snapshot.load(store, model.info.sha256, str(root), model.vocab) is None
    assert len(evaluate(model, root, store=store).rows) == len(first.rows) + 1


def test_a_schema_3_store_opens_and_reads_without_model_work(model, tmp_path, monkeypatch):
    manifest, db = make_manifest_set(tmp_path / "set"), tmp_path / "s.sqlite"
    first = evaluate(model, manifest, store=Store(db))
    # What a store written by schema 3 looks like: no copies, no generations, no triggers.
    with sqlite3.connect(db) as con:
        triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        con.executescript("".join(f"DROP TRIGGER {t};" for t in triggers) + "DROP TABLE evaluation_columns; "
                          "DROP TABLE generations; DROP TABLE derived_columns; PRAGMA user_version=3;")
        before = {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall())
                  for t in ("results", "class_cams", "features", "focus", "file_hashes")}
    _no_model_work(monkeypatch)
    store = Store(db)
    again = evaluate(model, manifest, store=store)
    assert again.computed == 0 and same_rows(again.rows, list(first.rows))
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 4
        assert {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall()) for t in before} == before
    assert _copy(model, manifest, store) is not None  # written by that evaluation
    store.put_results(model.info.sha256, [("1" * 64, {"fake": 0.5, "real": 0.5}, None, None, None)])
    assert _copy(model, manifest, store) is None  # and the triggers are there
