"""Triage marks: CSV export and gathering "model wrong" images into class folders."""

from __future__ import annotations

import csv
import io

from facefake_core.evaluation import CSV_COLUMNS, Store, copy_model_wrong, marks_csv, zip_model_wrong


def test_marks_csv_lists_every_mark_by_path():
    marks = {"bb": {"mark": "unsure", "path": "/z/b.jpg", "label": "real", "updated": 0.0},
             "aa": {"mark": "model wrong", "path": "/a/a.jpg", "label": "fake", "updated": 86400.0}}
    rows = list(csv.reader(io.StringIO(marks_csv(marks))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == ["aa", "/a/a.jpg", "fake", "model wrong", "1970-01-02T00:00:00+00:00"]
    assert rows[2] == ["bb", "/z/b.jpg", "real", "unsure", "1970-01-01T00:00:00+00:00"]
    assert marks_csv({}).strip() == ",".join(CSV_COLUMNS)


def test_copy_model_wrong_into_class_folders(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("f.jpg", "r.jpg", "l.jpg", "same.jpg"):
        (src / name).write_bytes(name.encode())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "same.jpg").write_bytes(b"other")
    store = Store(tmp_path / "s.sqlite")
    sha = {k: k * 64 for k in "frlsomx"}
    store.set_mark("m", sha["f"], "model wrong", str(src / "f.jpg"), "fake")
    store.set_mark("m", sha["r"], "model wrong", str(src / "r.jpg"), "real")
    store.set_mark("m", sha["l"], "label wrong", str(src / "l.jpg"), "real")
    store.set_mark("m", sha["s"], "model wrong", str(src / "same.jpg"), "fake")
    store.set_mark("m", sha["o"], "model wrong", str(tmp_path / "other" / "same.jpg"), "fake")
    store.set_mark("m", sha["m"], "model wrong", str(src / "gone.jpg"), "fake")
    store.set_mark("m", sha["x"], "model wrong", str(src / "f.jpg"), "../escape")
    out = tmp_path / "hard"
    report = copy_model_wrong(store.marks("m"), out)

    assert sorted(p.relative_to(out).as_posix() for p in report.copied) == sorted([
        f"fake/{'f' * 12}_f.jpg", f"real/{'r' * 12}_r.jpg", f"fake/{'s' * 12}_same.jpg", f"fake/{'o' * 12}_same.jpg"])
    assert (out / "fake" / f"{'o' * 12}_same.jpg").read_bytes() == b"other"
    assert (out / "real" / f"{'r' * 12}_r.jpg").read_bytes() == b"r.jpg"
    assert not (out / "real" / f"{'l' * 12}_l.jpg").exists()  # "label wrong" is not a model error
    reasons = dict(report.skipped)
    assert reasons[str(src / "gone.jpg")] == "file no longer exists"
    assert "no usable label" in reasons[str(src / "f.jpg")]
    assert not (tmp_path / "escape").exists()

    again = copy_model_wrong(store.marks("m"), out)  # a second run overwrites, never duplicates
    assert len(again.copied) == 4
    assert sum(1 for p in out.rglob("*") if p.is_file()) == 4


def test_zip_of_model_wrong_has_the_copy_layout(tmp_path):
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    (src / "f.jpg").write_bytes(b"fake bytes")
    (src / "r.jpg").write_bytes(b"real bytes")
    marks = {"f" * 64: {"mark": "model wrong", "path": str(src / "f.jpg"), "label": "fake", "updated": 0.0},
             "r" * 64: {"mark": "unsure", "path": str(src / "r.jpg"), "label": "real", "updated": 0.0},
             "g" * 64: {"mark": "model wrong", "path": str(src / "gone.jpg"), "label": "real", "updated": 0.0}}
    data, skipped = zip_model_wrong(marks)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == [f"fake/{'f' * 12}_f.jpg"]
        assert zf.read(f"fake/{'f' * 12}_f.jpg") == b"fake bytes"
    assert skipped == (("gone.jpg", "file no longer exists"),)  # named without the server's folders
    copied = copy_model_wrong(marks, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in copied.copied] == [f"fake/{'f' * 12}_f.jpg"]
    text = marks_csv(marks, name=lambda p: p.rsplit("/", 1)[-1])
    assert str(src) not in text and ",f.jpg,fake,model wrong," in text


def test_marks_belong_to_their_owner(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.set_mark("m", "a" * 64, "unsure", "/x/a.jpg", "real", owner="visitor-1")
    store.set_mark("m", "a" * 64, "model wrong", "/x/a.jpg", "real", owner="visitor-2")
    store.set_mark("m", "b" * 64, "label wrong", "/x/b.jpg", "fake")
    assert {k: v["mark"] for k, v in store.marks("m", owner="visitor-1").items()} == {"a" * 64: "unsure"}
    assert {k: v["mark"] for k, v in store.marks("m", owner="visitor-2").items()} == {"a" * 64: "model wrong"}
    assert {k: v["mark"] for k, v in store.marks("m").items()} == {"b" * 64: "label wrong"}
    store.set_mark("m", "a" * 64, None, owner="visitor-1")
    assert store.marks("m", owner="visitor-1") == {} and store.marks("m", owner="visitor-2")


def test_a_store_from_before_owners_is_migrated_and_keeps_every_mark(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:  # the triage table as stores before owners wrote it
        con.execute("CREATE TABLE triage (model_sha TEXT NOT NULL, image_sha TEXT NOT NULL, mark TEXT NOT NULL, "
                    "path TEXT, label TEXT, updated REAL NOT NULL, PRIMARY KEY (model_sha, image_sha))")
        con.executemany("INSERT INTO triage VALUES (?,?,?,?,?,?)",
                        [("m", "a" * 64, "model wrong", "/x/a.jpg", "fake", 1.0),
                         ("m", "b" * 64, "unsure", "/x/b.jpg", "real", 2.0),
                         ("n", "a" * 64, "label wrong", "/x/a.jpg", "fake", 3.0)])
    store = Store(path)
    assert store.marks("m") == {"a" * 64: {"mark": "model wrong", "path": "/x/a.jpg", "label": "fake", "updated": 1.0},
                                "b" * 64: {"mark": "unsure", "path": "/x/b.jpg", "label": "real", "updated": 2.0}}
    assert store.marks("n")["a" * 64]["mark"] == "label wrong"
    assert store.marks("m", owner="someone") == {}
    Store(path)  # opening it again changes nothing
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*) FROM triage").fetchone()[0] == 3
        assert "owner" in {r[1] for r in con.execute("PRAGMA table_info(triage)")}
