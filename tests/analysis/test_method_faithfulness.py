"""The per-set table of CAM methods: each score is the faithfulness of that image and method called directly (whose
own test ties it to pytorch-grad-cam's ROADCombined), the summary is worked out by hand from the scores, and the
default images are the set's errors, most wrong first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from conftest import draw_photo
from facefake_core.analysis import errors_sample, faithfulness, method_table
from facefake_core.analysis.faithfulness import input_cam
from facefake_core.evaluation import Evaluation, Row
from facefake_core.imaging import load_photo
from facefake_core.model import predict_and_cam

METHODS = ("gradcam", "hirescam", "eigencam")


@pytest.fixture
def rows(tmp_path):
    out = []
    for i in range(2):
        p = tmp_path / f"{i}.png"
        Image.fromarray(draw_photo(60 + i, 170, 130)).save(p)
        out.append(Row(str(p), "fake"))
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    return out + [Row(str(tmp_path / "bad.png"), "real")]


def test_each_score_is_the_images_faithfulness_called_directly(model, rows):
    table = method_table(model, rows, METHODS, target="fake", seed=2)
    assert table.target == "fake"
    assert [p for p, _ in table.skipped] == [rows[2].path] and "\n" not in table.skipped[0][1]
    got = {(r.image, r.method): r.road_combined for r in table.scores.itertuples()}
    assert len(got) == 2 * (len(METHODS) + 2)
    for row in rows[:2]:
        photo = load_photo(row.path)
        for m in METHODS:
            direct = faithfulness(model, photo, target="fake", method=m, seed=2)["faithfulness"]
            assert got[(row.path, m)] == pytest.approx(direct["road_combined"], abs=1e-4)
            for b in ("random", "sobel"):
                assert got[(row.path, b)] == pytest.approx(direct["baselines"][b], abs=1e-4)
    # And one of them against pytorch-grad-cam's ROADCombined on the same tensor and CAM.
    x = model.prepare([load_photo(rows[0].path)])
    cam = input_cam(predict_and_cam(model.split(), x, "hirescam", 0).raw_cam[0], (x.shape[-1], x.shape[-2]))
    torch.manual_seed(2)
    direct = ROADCombined(percentiles=[20, 40, 60, 80])(x, cam[None], [ClassifierOutputTarget(0)], model.net)
    assert got[(rows[0].path, "hirescam")] == pytest.approx(float(direct[0]), abs=1e-4)


def test_summary_by_hand_and_the_best_method(model, rows):
    table = method_table(model, rows[:2], METHODS)
    assert table.target == "predicted class"
    s = {(r.image, r.method): r.road_combined for r in table.scores.itertuples()}
    imgs = [r.path for r in rows[:2]]
    means = {m: np.mean([s[(i, m)] for i in imgs]) for m in (*METHODS, "random", "sobel")}
    order = sorted(METHODS, key=lambda m: -means[m])
    assert list(table.summary["method"]) == [*order, "random", "sobel"]
    assert table.best == order[0]
    for r in table.summary.itertuples():
        assert r.mean == pytest.approx(means[r.method]) and r.n == 2
        if r.method in METHODS:
            assert r.beats_random == np.mean([s[(i, r.method)] > s[(i, "random")] for i in imgs])
            assert r.beats_sobel == np.mean([s[(i, r.method)] > s[(i, "sobel")] for i in imgs])
    d = table.to_dict()
    assert d["best"] == order[0] and d["summary"][-1]["beats_random"] is None and len(d["scores"]) == 10


def test_default_images_are_the_errors_most_wrong_first():
    def row(name, label, p_fake):
        return Row(f"/{name}.png", label, image_sha=name, probs={"fake": p_fake, "real": 1 - p_fake})

    ev = Evaluation("m" * 64, ("fake", "real"), "/", (row("a", "fake", 0.9), row("b", "fake", 0.2),
                                                      row("c", "real", 0.6), row("d", "fake", 0.05)), (), 4, 0)
    # At 0.5: b (fake, P .2) and d (fake, P .05) and c (real, P(real) .4) are wrong; losses -log .05 > -log .2 > -log .4.
    assert [r.path for r in errors_sample(ev, 8, 0.5)] == ["/d.png", "/b.png", "/c.png"]
    assert [r.path for r in errors_sample(ev, 2, 0.5)] == ["/d.png", "/b.png"]
    assert [r.path for r in errors_sample(ev, 1, 0.01)] == ["/c.png"]  # no fake is missed; c is called fake


def test_unknown_method_is_refused(model, rows):
    with pytest.raises(ValueError, match="unknown CAM method"):
        method_table(model, rows, ["nope"])
