"""The CLI answers in the documented JSON shapes, in input order, with one-line errors."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import draw_photo
from facefake_core.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_json(capsys, learner_pkl, model):
    code, out, _ = run(capsys, "info", "--model", str(learner_pkl), "--json")
    info = json.loads(out)
    assert code == 0
    assert {"arch", "vocab", "input_size", "resize_method", "sha256", "target_layer"} <= set(info)
    assert info["sha256"] == model.info.sha256 and info["target_layer"] == "layer4"


def test_predict_keeps_order_and_reports_bad_files(capsys, learner_pkl, model, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(draw_photo(1, 120, 90)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_text("<html>not an image</html>")
    code, out, _ = run(capsys, "predict", str(bad), str(good), "--model", str(learner_pkl), "--json")
    data = json.loads(out)
    assert code == 1
    assert [d["path"] for d in data] == [str(bad), str(good)]
    assert "error" in data[0] and "bad.jpg" in data[0]["error"]
    assert data[1]["probs"] == model.predict(good).probs and data[1]["label"] == model.predict(good).label


def test_explain_writes_overlay_at_photo_size(capsys, learner_pkl, tmp_path):
    src = tmp_path / "wide.png"
    Image.fromarray(draw_photo(2, 240, 130)).save(src)
    out_png = tmp_path / "cam.png"
    code, out, _ = run(capsys, "explain", str(src), "--out", str(out_png), "--model", str(learner_pkl), "--json",
                       "--method", "gradcam++", "--target", "fake")
    data = json.loads(out)
    assert code == 0 and data["method"] == "gradcam++" and data["target"] == "fake"
    assert data["crop_box"] == [55, 0, 185, 130]  # centre square of the short side, by hand
    assert Image.open(out_png).size == (240, 130)
    assert {"path", "label", "probs", "out"} <= set(data)


def test_evaluate_json(capsys, learner_pkl, tmp_path):
    for k, label in enumerate(["fake", "real"]):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(draw_photo(60 + 5 * k + i, 100, 100)).save(tmp_path / "set" / label / f"{i}.png")
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "set"), "--model", str(learner_pkl), "--json",
                       "--store", str(tmp_path / "s.sqlite"))
    data = json.loads(out)
    assert code == 0 and data["n"] == 4 and data["labels"] == ["fake", "real"]
    assert np.array(data["confusion"]).sum() == 4
    assert {"per_class_accuracy", "auc", "ap", "eer", "rows", "errors"} <= set(data)
    assert set(data["rows"][0]) >= {"path", "label", "pred", "probs"}


def test_model_errors_are_one_line_with_status_2(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x80\x04 garbage")
    r = subprocess.run([sys.executable, "-m", "facefake_core", "info", "--model", str(junk)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_explain_faithfulness_json(capsys, learner_pkl, tmp_path):
    src, other = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(draw_photo(3, 160, 120)).save(src)
    Image.fromarray(draw_photo(4, 160, 120)).save(other)
    code, out, _ = run(capsys, "explain", str(src), "--out", str(tmp_path / "cam.png"), "--model", str(learner_pkl),
                       "--json", "--faithfulness", "--fill", str(other))
    data = json.loads(out)
    assert code == 0
    f = data["faithfulness"]
    assert set(f) == {"road_combined", "morf", "lerf", "percentiles", "baselines"}
    assert f["percentiles"] == [20, 40, 60, 80] and len(f["morf"]) == len(f["lerf"]) == 4
    assert set(f["baselines"]) == {"random", "sobel"} and set(data["faithfulness_fill"]) == set(f)


def test_explain_sanity_json(capsys, learner_pkl, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(draw_photo(21, 160, 120)).save(src)
    code, out, _ = run(capsys, "explain", str(src), "--out", str(tmp_path / "cam.png"), "--model", str(learner_pkl),
                       "--json", "--sanity")
    data = json.loads(out)
    assert code == 0 and [s["randomized"] for s in data["sanity"]] == ["head", "layer4", "layer3", "layer2", "layer1"]
    assert all(set(s) == {"randomized", "spearman", "ssim"} for s in data["sanity"]) and "sanity_verdict" in data


def test_explain_margin_target(capsys, learner_pkl, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(draw_photo(5, 120, 100)).save(src)
    code, out, _ = run(capsys, "explain", str(src), "--out", str(tmp_path / "cam.png"), "--model", str(learner_pkl),
                       "--json", "--target", "margin", "--faithfulness")
    data = json.loads(out)
    assert code == 0 and data["target"] == "fake − real" and "road_combined" in data["faithfulness"]


def test_dof_json_and_the_pictures_of_what_each_verdict_saw(capsys, tmp_path):
    from conftest import dof_photo

    from facefake_core.imaging import focus_overlay, load_photo, measure_focus

    paths = []
    for k, sharp in enumerate((False, True)):
        p = tmp_path / ("a" if k == 0 else "b") / "same.png"  # one name twice: two pictures all the same
        p.parent.mkdir()
        Image.fromarray(dof_photo(k, sharp)).save(p)
        paths.append(str(p))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, out, _ = run(capsys, "dof", *paths, str(bad), "--json", "--out", str(tmp_path / "pics"))
    data = json.loads(out)
    assert code == 1 and "error" in data[2] and "picture" not in data[2]  # the bad file is reported, not fatal
    for p, d in zip(paths, data):
        m = measure_focus(load_photo(p).pixels)
        assert d["narrow_dof"] == m.narrow_dof and d["dof_score"] == m.dof_score
        assert np.array_equal(np.asarray(Image.open(d["picture"])), focus_overlay(load_photo(p).pixels, m))
    assert len({d["picture"] for d in data[:2]}) == 2
    code, out, err = run(capsys, "dof", paths[0], "--out", str(bad))  # a file where the folder should be
    assert code == 2 and err.count("\n") == 1 and "cannot make the folder" in err
    (tmp_path / "pics2" / "same_focus.png").mkdir(parents=True)  # a folder where the picture should go
    code, out, _ = run(capsys, "dof", paths[0], "--json", "--out", str(tmp_path / "pics2"))
    (row,) = json.loads(out)
    assert code == 1 and row["error"].startswith("cannot write the picture") and "narrow_dof" in row


def test_counterfactual_json(capsys, learner_pkl, model, tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(draw_photo(4, 160, 120)).save(src)
    code, out, _ = run(capsys, "counterfactual", str(src), "--blur-background", "4", "--model", str(learner_pkl),
                       "--json")
    (d,) = json.loads(out)
    assert code == 0 and d["edit"] == {"blur_background": 4.0}
    from facefake_core.imaging import edit, load_photo

    photo = load_photo(src)
    before, after = model.predict(photo.pixels), model.predict(edit(photo, "blur_background", 4.0).pixels)
    assert all(abs(d["before"][c] - before.probs[c]) < 1e-5 for c in before.probs)  # one batch of two: rounding
    assert all(abs(d["after"][c] - after.probs[c]) < 1e-5 for c in after.probs)
    assert d["after"] != d["before"]
