"""The set-level contracts: evaluate's calibration, best threshold and slices; robustness; audit."""

import csv
import json

import pytest
from PIL import Image

from conftest import draw_photo
from facefake_core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def manifest_set(tmp_path):
    root = tmp_path / "set"
    root.mkdir()
    rows = []
    for i in range(8):
        label = "fake" if i < 4 else "real"
        name = f"{i}.{'jpg' if i % 2 else 'png'}"
        Image.fromarray(draw_photo(70 + i, 100, 90)).save(root / name)
        rows.append({"path": name, "label": label, "generator": ("ganA" if i % 2 else "ganB") if i < 4 else "camera"})
    with open(root / "set.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "generator"])
        w.writeheader()
        w.writerows(rows)
    return root / "set.csv"


def test_evaluate_json_has_calibration_best_threshold_and_slices(capsys, learner_pkl, manifest_set, tmp_path):
    code, out, _ = run(capsys, "evaluate", str(manifest_set), "--model", str(learner_pkl), "--json",
                       "--store", str(tmp_path / "s.sqlite"))
    data = json.loads(out)
    assert code == 0
    assert set(data["calibration"]) == {"ece", "brier", "bins"} and len(data["calibration"]["bins"]) == 10
    assert set(data["calibration"]["bins"][0]) == {"lo", "hi", "n", "mean_p_fake", "frac_fake"}
    assert sum(b["n"] for b in data["calibration"]["bins"]) == 8
    assert set(data["best_threshold"]) >= {"threshold", "per_class_accuracy"}
    assert set(data["slices"]) >= {"generator", "format", "jpeg_quality"}  # one size bucket: no slice
    gan = data["slices"]["generator"]["ganA"]
    assert set(gan) == {"n", "n_fake", "n_real", "auc", "ap", "eer", "per_class_accuracy", "balanced_accuracy",
                        "best_threshold", "ece", "brier", "ci"}
    assert (gan["n"], gan["n_fake"], gan["n_real"]) == (2, 2, 0)
    assert set(gan["ci"]) == {"per_class_accuracy", "balanced_accuracy", "auc"}
    assert {v: s["n"] for v, s in data["slices"]["format"].items()} == {"JPEG": 4, "PNG": 4}


def test_evaluate_leaves_the_pages_header_columns_in_the_store(capsys, learner_pkl, manifest_set, tmp_path):
    """The Hard set page's first open of an evaluated set reads its slice table's header columns back (one blob)
    instead of every file's header facts; they are the columns the files' own headers give, and the CLI's slices
    are computed from them as the page's are."""
    import sqlite3

    from facefake_core import evaluate, load_model
    from facefake_core.analysis import file_infos, header_columns, slice_columns
    from facefake_core.evaluation import Store

    db = tmp_path / "s.sqlite"
    code, _, _ = run(capsys, "evaluate", str(manifest_set), "--model", str(learner_pkl), "--json", "--store", str(db))
    assert code == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM derived_columns").fetchone()[0] == 1
        con.execute("DELETE FROM file_info")  # so the columns below can only come from the stored blob
    ev = evaluate(load_model(str(learner_pkl)), str(manifest_set), store=Store(db))
    cached = header_columns(ev, Store(db))
    assert slice_columns(ev, headers=cached) == slice_columns(ev, file_infos(ev))  # as read from the files now


def test_robustness_json_and_its_none_point(capsys, learner_pkl, manifest_set, tmp_path):
    store = str(tmp_path / "s.sqlite")
    code, out, _ = run(capsys, "evaluate", str(manifest_set), "--model", str(learner_pkl), "--json", "--store", store,
                       "--no-ci")
    ev = json.loads(out)
    code, out, _ = run(capsys, "robustness", str(manifest_set), "--model", str(learner_pkl), "--json", "--store", store,
                       "--edit", "jpeg=50", "--edit", "downscale=0.5", "--edit", "background_blur=4")
    data = json.loads(out)
    assert code == 0 and set(data) >= {"model", "n", "curves"} and data["n"] == 8
    assert [(c["edit"], c.get("value")) for c in data["curves"]] == [
        ("none", None), ("jpeg", 50.0), ("downscale", 0.5), ("background_blur", 4.0)]
    for c in data["curves"]:
        assert set(c) >= {"edit", "n", "auc", "ap", "per_class_accuracy", "mean_p_fake", "slices"}
    none = data["curves"][0]
    assert none["auc"] == ev["auc"] and none["ap"] == ev["ap"] and none["per_class_accuracy"] == ev["per_class_accuracy"]
    assert set(none["slices"]["generator"]) == {"camera", "ganA", "ganB"}


def test_audit_json(capsys, manifest_set):
    code, out, _ = run(capsys, "audit", str(manifest_set), "--json")
    data = json.loads(out)
    assert code == 0 and set(data) >= {"classes", "metadata_auc", "warning"}
    assert set(data["classes"]) == {"fake", "real"} and data["classes"]["fake"]["n"] == 4


def test_a_bad_edit_is_one_line(capsys, learner_pkl, manifest_set):
    code, _, err = run(capsys, "robustness", str(manifest_set), "--model", str(learner_pkl), "--edit", "sepia=2")
    assert code == 2 and err.startswith("error: unknown edit 'sepia'") and len(err.strip().splitlines()) == 1


def test_evaluate_kaggle_layout_with_split_and_numeric_labels(capsys, learner_pkl, tmp_path):
    images = tmp_path / "kaggle" / "real_vs_fake" / "real-vs-fake"
    lines = [",original_path,id,label,label_str,path"]
    for split in ("train", "test"):
        for k, cls in enumerate(("fake", "real")):
            for i in range(2):
                rel = f"{split}/{cls}/{i}.jpg"
                (images / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(draw_photo(80 + 10 * k + i, 64, 64)).save(images / rel)
                if split == "test":
                    lines.append(f"{len(lines) - 1},x,{i},{k},{cls},{rel}")
    (tmp_path / "kaggle" / "test.csv").write_text("\n".join(lines) + "\n")
    store = str(tmp_path / "s.sqlite")
    code, _, err = run(capsys, "evaluate", str(tmp_path / "kaggle"), "--model", str(learner_pkl), "--store", store)
    assert code == 2 and "choose one with --split" in err
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "kaggle"), "--split", "test", "--model", str(learner_pkl),
                       "--store", store, "--json", "--no-ci")
    by_folder = json.loads(out)
    assert code == 0 and by_folder["n"] == 4
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "kaggle" / "test.csv"), "--label-column", "label",
                       "--labels", "0=fake,1=real", "--model", str(learner_pkl), "--store", store, "--json", "--no-ci")
    by_csv = json.loads(out)
    assert code == 0 and by_csv["computed"] == 0  # the same images, read from the store
    assert sorted((r["path"], r["label"], r["probs"]["fake"]) for r in by_csv["rows"]) == sorted(
        (r["path"], r["label"], r["probs"]["fake"]) for r in by_folder["rows"])


def test_faithfulness_scores_the_methods_on_the_errors(capsys, learner_pkl, manifest_set, tmp_path):
    import math

    store = str(tmp_path / "s.sqlite")
    code, out, _ = run(capsys, "evaluate", str(manifest_set), "--model", str(learner_pkl), "--json", "--store", store)
    rows = json.loads(out)["rows"]
    wrong = [r for r in rows if (r["probs"]["fake"] >= 0.5) != (r["label"] == "fake")]
    by_hand = sorted(wrong or rows, key=lambda r: (math.log(max(r["probs"][r["label"]], 1e-12)), r["path"]))[:2]
    code, out, _ = run(capsys, "faithfulness", str(manifest_set), "--model", str(learner_pkl), "--json", "--store",
                       store, "--n", "2", "--methods", "gradcam,eigencam", "--target", "fake")
    data = json.loads(out)
    assert code == 0 and data["target"] == "fake" and data["skipped"] == []
    assert sorted({s["image"] for s in data["scores"]}) == sorted(r["path"] for r in by_hand)
    assert [s["method"] for s in data["summary"]][-2:] == ["random", "sobel"]
    means = {s["method"]: s["mean"] for s in data["summary"]}
    assert data["best"] == max(("gradcam", "eigencam"), key=means.get)
    code, out, _ = run(capsys, "faithfulness", str(manifest_set), "--model", str(learner_pkl), "--store", store,
                       "--n", "1", "--methods", "gradcam")
    assert code == 0 and "most faithful: gradcam" in out and "predicted class" in out
    code, _, err = run(capsys, "faithfulness", str(manifest_set), "--model", str(learner_pkl), "--store", store,
                       "--methods", "nope")
    assert code == 2 and err.startswith("error: unknown CAM method nope") and err.count("\n") == 1
