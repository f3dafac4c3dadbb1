"""Slice tables: every number against scikit-learn on the filtered rows, seeded bootstrap intervals, the derived
columns, and the diagnosis of a threshold shift."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, balanced_accuracy_score, brier_score_loss, roc_auc_score

from conftest import draw_photo
from facefake_core import evaluate
from facefake_core.analysis.slices import (
    diagnose, file_infos, quality_bucket, size_bucket, slice_columns, slice_metrics, slice_report,
)
from facefake_core.evaluation import Evaluation, Row, Store
from facefake_core.imaging import FocusMeasures

VOCAB = ("fake", "real")


def _focus(narrow: bool) -> FocusMeasures:
    return FocusMeasures((0, 0, 4, 4), "sharpness", 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6 if narrow else 0.0, narrow,
                         1.0, (8, 8))


def _ev(seed: int = 0, n: int = 120) -> Evaluation:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "fake" if i % 2 else "real"
        style = "studio" if i % 3 == 0 else "casual"
        # Studio fakes rank above the reals but below 0.5: a threshold shift on that slice.
        p = rng.uniform(0.02, 0.3) if label == "real" else (rng.uniform(0.32, 0.45) if style == "studio"
                                                               else rng.uniform(0.6, 1.0))
        rows.append(Row(f"/s/{label}/{i}.png", label, style, f"sha{i}", {"fake": p, "real": 1 - p}, None,
                        _focus(style == "studio"), meta={"style": style, "id": str(i)}))
    return Evaluation("m", VOCAB, "s", tuple(rows), (), n, 0)


def test_slice_metrics_equal_scikit_learn_on_the_filtered_rows():
    ev = _ev()
    table = slice_report(ev, 0.5, ci=False)
    assert set(table) == {"style", "narrow_dof"}  # "id" has a value per row: not a slice column
    for value in ("studio", "casual"):
        rows = [r for r in ev.rows if r.meta["style"] == value]
        y = np.array([r.label == "fake" for r in rows], int)
        p = np.array([r.probs["fake"] for r in rows])
        pred = (p >= 0.5).astype(int)
        got = table["style"][value]
        assert got["n"] == len(rows) and got["n_fake"] == y.sum() and got["n_real"] == len(y) - y.sum()
        assert got["auc"] == pytest.approx(roc_auc_score(y, p))
        assert got["ap"] == pytest.approx(average_precision_score(y, p))
        assert got["brier"] == pytest.approx(brier_score_loss(y, p))
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
        assert got["per_class_accuracy"]["fake"] == pytest.approx((pred[y == 1] == 1).mean())
        assert got["per_class_accuracy"]["real"] == pytest.approx((pred[y == 0] == 0).mean())
    assert table["narrow_dof"]["narrow"]["n"] == table["style"]["studio"]["n"]


def test_intervals_are_seeded_and_hold_the_estimate():
    rng = np.random.default_rng(3)
    labels = ["fake"] * 60 + ["real"] * 60
    p = 1 / (1 + np.exp(-np.r_[rng.normal(1, 1.5, 60), rng.normal(-1, 1.5, 60)]))  # overlapping classes
    a = slice_metrics(labels, p, VOCAB, 0.5, ci=True, n_resamples=300)
    b = slice_metrics(labels, p, VOCAB, 0.5, ci=True, n_resamples=300)
    assert a["ci"] == b["ci"]
    lo, hi = a["ci"]["auc"]
    assert lo <= a["auc"] <= hi and hi - lo < 0.2
    for c in VOCAB:
        lo, hi = a["ci"]["per_class_accuracy"][c]
        assert lo <= a["per_class_accuracy"][c] <= hi
    other = slice_metrics(labels, p, VOCAB, 0.5, ci=True, n_resamples=300, seed=1)
    assert other["ci"]["auc"] != a["ci"]["auc"]


def test_diagnosis_names_the_threshold_shift():
    ev = _ev()
    studio = slice_report(ev, 0.5, ci=False)["style"]["studio"]
    text = diagnose(studio, 0.5, " on style = studio")
    assert text.startswith("AUC 1.00 on style = studio: the model ranks fakes above reals, but scores many fakes "
                           "below 0.5.")
    assert "fake accuracy would be 100% and real accuracy 100%" in text
    assert diagnose(slice_report(ev, 0.5, ci=False)["style"]["casual"], 0.5) is None  # nothing to fix there


def test_buckets():
    assert size_bucket(256, 300) == "256-511 px" and size_bucket(100, 2000) == "<256 px"
    assert size_bucket(1024, 1024) == ">=1024 px" and size_bucket(600, 512) == "512-1023 px"
    assert quality_bucket(None) == "not JPEG" and quality_bucket(69) == "q<70" and quality_bucket(70) == "q70-84"
    assert quality_bucket(95) == "q95-100" and quality_bucket(90) == "q85-94"


def test_manifest_columns_and_file_facts_become_slices(model, tmp_path):
    root = tmp_path / "set"
    root.mkdir()
    rows = []
    for i in range(8):
        label, gen = ("fake", "ganA" if i % 2 else "ganB") if i < 4 else ("real", "camera")
        name = f"{i}.jpg" if i % 2 else f"{i}.png"
        Image.fromarray(draw_photo(i, 96, 80)).save(root / name, **({"quality": 80} if name.endswith("jpg") else {}))
        rows.append({"path": name, "label": label, "generator": gen})
    with open(root / "set.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "generator"])
        w.writeheader()
        w.writerows(rows)
    store = Store(tmp_path / "s.sqlite")
    ev = evaluate(model, root / "set.csv", store=store, with_cam=False)
    infos = file_infos(ev, store)
    assert store.get_file_info([r.image_sha for r in ev.rows]).keys() == infos.keys()
    cols = slice_columns(ev, infos)
    assert {"generator", "format", "jpeg_quality"} <= set(cols) and "size" not in cols  # one size bucket: no slice
    assert sorted(set(cols["format"])) == ["JPEG", "PNG"]
    assert sorted(set(cols["jpeg_quality"])) == ["not JPEG", "q70-84"]
    table = slice_report(ev, 0.5, infos, columns=["generator"], ci=False)
    assert {v: s["n"] for v, s in table["generator"].items()} == {"camera": 4, "ganA": 2, "ganB": 2}
    with pytest.raises(ValueError, match="unknown slice column"):
        slice_report(ev, 0.5, infos, columns=["nope"])


def test_evaluate_reports_the_file_headers_it_reads(model, tmp_path):
    """The header step at the end of a fresh evaluation has a progress line of its own, up to every file."""
    for i, label in enumerate(["fake", "real", "fake"]):
        (tmp_path / label).mkdir(exist_ok=True)
        Image.fromarray(draw_photo(200 + i, 64, 48)).save(tmp_path / label / f"{i}.jpg")
    calls = []
    evaluate(model, tmp_path, store=Store(tmp_path / "s.sqlite"),
             progress=lambda done, total, what: calls.append((done, total, what)))
    assert [c for c in calls if c[2] == "reading file headers"][-1] == (3, 3, "reading file headers")
