"""Tests of facefake_core.analysis (dof tables, sweeps, spectra): tables worked out by hand on hand-made rows, and
the counterfactual and spectrum summaries on a small generated set run through the conftest model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import dof_photo, make_dof_set
from facefake_core import evaluate
from facefake_core.analysis import (
    CounterfactualSummary, cam_bokeh_groups, class_spectra, counterfactual_summary, default_slices, dof_edges,
    error_by_dof, focus_frame, image_spectra, row_by_path, slice_name, slice_rows, slice_table,
)
from facefake_core.evaluation import Evaluation, Row, Store
from facefake_core.imaging import FocusMeasures, blur_background, load_photo, mean_image_profile, sharpen_background


# -- hand-made rows -------------------------------------------------------------------------------------------
def _row(name: str, label: str, p_fake: float, dof: float | None, narrow: bool = False, ratio: float = 1.0,
         bokeh: float | None = None, face: float | None = None) -> Row:
    focus = None
    if dof is not None:
        focus = FocusMeasures(face_box=(0, 0, 10, 10), face_source="sharpness", face_sharpness=1.0,
                              background_sharpness=1.0, sharpness_ratio=ratio, face_hf_energy=1.0,
                              background_hf_energy=1.0, defocus_fraction=0.5, dof_score=dof, narrow_dof=narrow,
                              noise_sigma=1.0, image_shape=(10, 10))
    return Row(f"/set/{label}/{name}.png", label, "", f"sha-{name}", {"fake": p_fake, "real": 1 - p_fake}, None, focus,
               bokeh_share=bokeh if focus is not None else None, face_share=face if focus is not None else None)


@pytest.fixture
def ev() -> Evaluation:
    """Five fakes and three reals with focus measures, and one real without (left out of every table)."""
    rows = (
        _row("A", "fake", 0.9, 0.1, False, 1.3, 0.1, 0.6),  # correct at 0.5
        _row("B", "fake", 0.6, 0.3, False, 2.0),  # correct at 0.5, wrong at 0.65
        _row("C", "fake", 0.2, 1.2, True, 15.8, 0.7, 0.2),  # wrong
        _row("I", "real", 0.4, None),  # no focus measures
        _row("D", "fake", 0.7, 1.5, True, 31.6),  # correct
        _row("E", "fake", 0.1, 2.0, True, 100.0, 0.5, 0.3),  # wrong
        _row("F", "real", 0.3, 0.2, False, 1.6, 0.2, 0.5),  # correct
        _row("G", "real", 0.6, 1.0, True, 10.0, 0.6, 0.1),  # wrong at 0.5, correct at 0.65
        _row("H", "real", 0.1, 1.8, True, 63.0),  # correct
    )
    return Evaluation("model-sha", ("fake", "real"), "/set", rows, (), 0, 0)


def test_focus_frame_keeps_rows_with_focus_and_their_positions(ev):
    frame = focus_frame(ev, 0.5)
    assert frame["path"].map(lambda p: Path(p).stem).tolist() == list("ABCDEFGH")
    assert frame["index"].tolist() == [0, 1, 2, 4, 5, 6, 7, 8]  # I (position 3) has no focus measures
    assert frame["correct"].tolist() == [True, True, False, True, False, True, False, True]
    assert frame["slice"].tolist()[:3] == ["sharp fakes", "sharp fakes", "narrow-DOF fakes"]
    assert math.isnan(frame["bokeh_share"].iloc[1])  # B was evaluated without a CAM


def test_error_by_dof_fixed_edges(ev):
    t = error_by_dof(ev, 0.5, bins=[0, 1, 2])
    # [0, 1): A, B (fake), F (real); [1, 2] (last bin closed, so 2.0 is in it): C, D, E (fake), G, H (real).
    got = {(r.label, r.bin): (r.n, r.errors, r.error_rate, r.mean_p_fake) for r in t.itertuples()}
    assert got.keys() == {("fake", "[0.00, 1.00)"), ("fake", "[1.00, 2.00]"), ("real", "[0.00, 1.00)"),
                          ("real", "[1.00, 2.00]")}
    assert got[("fake", "[0.00, 1.00)")] == pytest.approx((2, 0, 0.0, 0.75))
    assert got[("fake", "[1.00, 2.00]")] == pytest.approx((3, 2, 2 / 3, (0.2 + 0.7 + 0.1) / 3))
    assert got[("real", "[0.00, 1.00)")] == pytest.approx((1, 0, 0.0, 0.3))
    assert got[("real", "[1.00, 2.00]")] == pytest.approx((2, 1, 0.5, 0.35))
    assert t["label"].tolist() == ["fake", "fake", "real", "real"]


def test_error_by_dof_quantile_bins_and_values_outside_edges(ev):
    # Sorted scores 0.1 0.2 0.3 1.0 | 1.2 1.5 1.8 2.0: the median (numpy's linear rule) is 1.1.
    assert dof_edges([0.1, 0.3, 1.2, 1.5, 2.0, 0.2, 1.0, 1.8], 2).tolist() == pytest.approx([0.1, 1.1, 2.0])
    t = error_by_dof(ev, 0.5, bins=2)
    got = {(r.label, r.lo): (r.n, r.errors, r.mean_p_fake) for r in t.itertuples()}
    assert got[("fake", 0.1)] == pytest.approx((2, 0, 0.75))  # A, B
    assert got[("fake", 1.1)] == pytest.approx((3, 2, 1 / 3))  # C, D, E
    assert got[("real", 0.1)] == pytest.approx((2, 1, 0.45))  # F, G
    assert got[("real", 1.1)] == pytest.approx((1, 0, 0.1))  # H
    inner = error_by_dof(ev, 0.5, bins=[0.5, 1.6])  # only C (1.2), D (1.5) and G (1.0) fall inside
    assert inner[["label", "n"]].values.tolist() == [["fake", 2], ["real", 1]]
    with pytest.raises(ValueError):
        error_by_dof(ev, 0.5, bins=0)
    assert dof_edges([0.7, 0.7], 3).tolist() == [0.7, 0.7]  # one value: one closed bin
    assert error_by_dof(Evaluation("m", ("fake", "real"), "s", (), (), 0, 0)).empty


def test_slice_table_by_hand(ev):
    t = slice_table(ev, 0.5).set_index("slice")
    assert t.index.tolist() == ["narrow-DOF fakes", "sharp fakes", "narrow-DOF reals", "sharp reals"]
    assert t.loc["narrow-DOF fakes", ["n", "correct"]].tolist() == [3, 1]  # C, D, E: only D is called fake
    assert t.loc["narrow-DOF fakes", "accuracy"] == pytest.approx(1 / 3)
    assert t.loc["narrow-DOF fakes", "mean_p_fake"] == pytest.approx(1 / 3)
    assert t.loc["sharp fakes", ["n", "correct"]].tolist() == [2, 2]
    assert t.loc["narrow-DOF reals", "accuracy"] == pytest.approx(0.5)
    assert t.loc["sharp reals", "mean_p_fake"] == pytest.approx(0.3)
    higher = slice_table(ev, 0.65).set_index("slice")
    assert higher.loc["sharp fakes", "accuracy"] == pytest.approx(0.5)  # B (0.6) is now called real
    assert higher.loc["narrow-DOF reals", "accuracy"] == pytest.approx(1.0)  # so is G (0.6)


def test_empty_slice_has_no_accuracy():
    only = Evaluation("m", ("fake", "real"), "s", (_row("A", "fake", 0.9, 0.1),), (), 0, 0)
    t = slice_table(only, 0.5).set_index("slice")
    assert t.loc["narrow-DOF fakes", "n"] == 0 and math.isnan(t.loc["narrow-DOF fakes", "accuracy"])


def test_cam_bokeh_groups_by_hand(ev):
    g = cam_bokeh_groups(ev, 0.5)
    # With CAM shares: A, F correct; C, E, G wrong.
    assert g["error"]["n"] == 3 and g["error"]["bokeh_share"] == [0.7, 0.5, 0.6]
    assert g["error"]["mean_bokeh_share"] == pytest.approx(0.6)
    assert g["error"]["mean_face_share"] == pytest.approx(0.2)
    assert g["correct"]["face_share"] == [0.6, 0.5]
    assert g["correct"]["mean_bokeh_share"] == pytest.approx(0.15)
    none = cam_bokeh_groups(Evaluation("m", ("fake", "real"), "s", (_row("B", "fake", 0.6, 0.3),), (), 0, 0))
    assert none["error"]["n"] == 0 and none["correct"]["mean_bokeh_share"] is None


def test_row_by_path(ev):
    assert row_by_path(ev, "/set/fake/C.png").image_sha == "sha-C"
    assert row_by_path(ev, "/elsewhere.png") is None and row_by_path(ev, None) is None


def test_slice_rows_spread_and_names(ev):
    assert [Path(r.path).stem for r in slice_rows(ev, "narrow-DOF fakes")] == ["C", "D", "E"]
    assert [Path(r.path).stem for r in slice_rows(ev, "narrow-DOF fakes", 2)] == ["C", "E"]  # first and last
    assert default_slices(ev) == ("sharp fakes", "narrow-DOF fakes")
    with pytest.raises(ValueError, match="unknown slice"):
        slice_rows(ev, "blurry cats")


def test_sentences_from_a_table():
    table = pd.DataFrame({"slice": ["sharp fakes"] * 2 + ["narrow-DOF fakes"] * 2,
                          "kind": ["blur_background"] * 2 + ["sharpen_background"] * 2,
                          "value": [0.0, 8.0, 0.0, 2.0], "n": [3, 3, 2, 2], "mean_p_fake": [0.8, 0.6, 0.3, 0.45],
                          "delta": [0.0, -0.2, 0.0, 0.15]})
    s = CounterfactualSummary(pd.DataFrame(), table, ()).sentences()
    assert s[0] == ("Blurring the background of sharp fakes (background blur sigma (px) 8) lowers mean P(fake) by "
                    "0.200 (0.800 → 0.600, 3 images).")
    assert s[1].startswith("Sharpening the background of narrow-DOF fakes") and "raises mean P(fake) by 0.150" in s[1]


# -- a generated set through the model ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_ev(model, tmp_path_factory) -> Evaluation:
    root = tmp_path_factory.mktemp("dofset")
    return evaluate(model, make_dof_set(root / "set"), store=Store(root / "s.sqlite"), batch_size=4)


def test_generated_set_has_both_kinds_of_fake(real_ev):
    assert len(slice_rows(real_ev, "sharp fakes")) == 2 and len(slice_rows(real_ev, "narrow-DOF fakes")) == 2


def test_counterfactual_summary_structure_identity_and_batching(model, real_ev):
    values = {"blur_background": (0, 4), "sharpen_background": (0, 1)}
    calls = []
    s1 = counterfactual_summary(model, real_ev, values=values, max_per_slice=2, batch_size=1)
    s3 = counterfactual_summary(model, real_ev, values=values, max_per_slice=2, batch_size=3,
                                progress=lambda d, t, w: calls.append((d, t)))
    assert calls[0] == (0, 16) and calls[-1] == (16, 16)  # 2 slices x 2 images x 4 edited copies
    t = s3.table
    assert t[["slice", "kind", "value"]].values.tolist() == [
        [s, k, v] for s in ("sharp fakes", "narrow-DOF fakes") for k, vs in values.items() for v in vs]
    assert (t["n"] == 2).all() and not s3.skipped
    assert t.loc[t["value"] == 0, "delta"].tolist() == [0.0] * 4
    # Batches of 3 give what one image at a time gives.
    np.testing.assert_allclose(s3.per_image["p_fake"], s1.per_image["p_fake"], atol=1e-5)
    unedited = {}  # path -> P(fake) of the photo alone, one image per forward pass as in s1
    edited, expected = [], []
    for rec in s1.per_image.itertuples():
        row = row_by_path(real_ev, rec.path)
        photo = load_photo(rec.path)
        if rec.value == 0:  # the identity edit is the unedited photo: the very same P(fake)
            p = unedited.setdefault(rec.path, model.predict_batch([photo])[0].probs["fake"])
            assert rec.p_fake == p and rec.p_fake == pytest.approx(row.probs["fake"], abs=1e-5)
        else:  # the edit the summary ran is the one the edit functions make around the stored face box
            box = tuple(row.focus.face_box)
            edited.append(blur_background(photo.pixels, box, rec.value) if rec.kind == "blur_background"
                          else sharpen_background(photo.pixels, box, rec.value))
            expected.append(rec.p_fake)
    again = [p.probs["fake"] for p in model.predict_batch([load_photo(e) for e in edited])]
    np.testing.assert_allclose(again, expected, atol=1e-5)
    means = s1.per_image.groupby(["slice", "kind", "value"], sort=False)["p_fake"].mean()
    np.testing.assert_allclose(s1.table["mean_p_fake"], means.values)
    assert len(s1.sentences()) == 4 and all("mean P(fake)" in s for s in s1.sentences())


def test_counterfactual_summary_skips_a_vanished_file(model, real_ev, tmp_path):
    import dataclasses
    import shutil

    rows = list(real_ev.rows)
    gone = tmp_path / "gone.png"
    shutil.copy(rows[0].path, gone)
    rows[0] = dataclasses.replace(rows[0], path=str(gone))
    gone.unlink()
    ev2 = dataclasses.replace(real_ev, rows=tuple(rows))
    calls = []
    s = counterfactual_summary(model, ev2, slices=[slice_name(rows[0].label, rows[0].focus.narrow_dof)],
                               kinds=["jpeg"], values={"jpeg": (100, 50)}, max_per_slice=5,
                               progress=lambda d, t, w: calls.append((d, t)))
    assert [p for p, _ in s.skipped] == [str(gone)] and "no such file" in s.skipped[0][1]
    assert calls[-1] == (4, 4) and (s.table["n"] == 1).all()
    with pytest.raises(ValueError, match="unknown edit"):
        counterfactual_summary(model, real_ev, kinds=["melt"])


def test_class_spectra_match_mean_image_profile(real_ev):
    calls = []
    stats = class_spectra(real_ev, progress=lambda d, t, w: calls.append((d, t)))
    assert calls[-1] == (8, 8) and set(stats) == {"fake", "real"}
    for label in ("fake", "real"):
        rows = [r for r in real_ev.rows if r.label == label]
        imgs = [load_photo(r.path).pixels for r in rows]
        boxes = [tuple(r.focus.face_box) for r in rows]
        for region in ("image", "face", "background"):
            keep = [i for i, (img, b) in enumerate(zip(imgs, boxes))  # a face box filling the frame leaves no background
                    if region != "background" or b != (0, 0, img.shape[1], img.shape[0])]
            ref = mean_image_profile([imgs[i] for i in keep], region,
                                     [boxes[i] for i in keep] if region != "image" else None)
            got = stats[label][region]
            assert got.count == len(keep) and len(keep) >= 2
            np.testing.assert_allclose(got.mean, ref.mean, rtol=1e-6)
            np.testing.assert_allclose(got.std, ref.std, rtol=1e-5, atol=1e-6)
    capped = class_spectra(real_ev, regions=("image",), max_per_class=1)
    assert capped["fake"]["image"].count == 1 and set(capped["fake"]) == {"image"}


def test_image_spectra_regions():
    img = dof_photo(3, True)
    assert set(image_spectra(img, None)) == {"image"}
    both = image_spectra(img, (40, 30, 100, 90))
    assert set(both) == {"image", "face", "background"} and both["face"].log_power.shape == (48,)


def test_empty_slices_give_an_empty_summary_without_the_model():
    empty = Evaluation("m", ("fake", "real"), "s", (), (), 0, 0)
    calls = []
    s = counterfactual_summary(None, empty, progress=lambda d, t, w: calls.append((d, t)))
    assert s.table.empty and s.per_image.empty and s.sentences() == [] and calls[-1] == (0, 0)
