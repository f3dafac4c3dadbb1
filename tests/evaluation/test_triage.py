"""Triage marks: CSV export and gathering "model wrong" images into class folders."""

from __future__ import annotations

import csv
import io

from facefake_core.evaluation import CSV_COLUMNS, Store, copy_model_wrong, marks_csv


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
