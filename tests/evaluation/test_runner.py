"""Hard-set evaluation: rows, metrics, the store skipping work, unreadable files, batching."""

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo
from facefake_core import HardSetError, ImageLoadError, evaluate
from facefake_core.evaluation import Store, compute


def make_set(root, n=3, extra_bad=True):
    for k, label in enumerate(["fake", "real"]):
        (root / "test" / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(draw_photo(500 + 10 * k + i, 150, 130)).save(root / "test" / label / f"{i}.png")
    if extra_bad:
        (root / "test" / "fake" / "broken.jpg").write_bytes(b"not an image at all")
    return root


def test_evaluate_rows_metrics_and_errors(model, tmp_path):
    ev = evaluate(model, make_set(tmp_path / "set"), store=Store(tmp_path / "s.sqlite"), batch_size=4)
    assert len(ev.rows) == 6 and len(ev.errors) == 1
    assert "broken.jpg" in ev.errors[0].error and "\n" not in ev.errors[0].error
    for r in ev.rows:
        expected = model.predict(r.path).probs
        assert r.probs == pytest.approx(expected, abs=1e-5)
        assert r.cam.shape == (4, 4)
    m = ev.metrics(0.5)
    by_hand = compute([r.label for r in ev.rows], [r.probs["fake"] for r in ev.rows], ["fake", "real"], 0.5)
    assert m.confusion.tolist() == by_hand.confusion.tolist()
    d = ev.to_dict()
    assert set(d) >= {"n", "labels", "confusion", "per_class_accuracy", "auc", "ap", "eer", "rows", "errors"}


def test_second_run_does_no_model_work(model, tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set")
    first = evaluate(model, root, store=store)
    assert first.computed == 6

    def boom(*a, **k):
        raise AssertionError("model work on a re-run")

    monkeypatch.setattr("facefake_core.evaluation.runner.predict_and_cam", boom)
    second = evaluate(model, root, store=store)
    assert second.computed == 0 and second.reused == 6
    for a, b in zip(first.rows, second.rows):
        assert a.probs == b.probs and np.array_equal(a.cam, b.cam) and a.focus_dict() == b.focus_dict()


def test_batched_equals_per_image(model, tmp_path):
    root = make_set(tmp_path / "set", extra_bad=False)
    big = evaluate(model, root, store=Store(tmp_path / "a.sqlite"), batch_size=6)
    one = evaluate(model, root, store=Store(tmp_path / "b.sqlite"), batch_size=1)
    for a, b in zip(big.rows, one.rows):
        assert a.probs == pytest.approx(b.probs, abs=1e-5)
        np.testing.assert_allclose(a.cam, b.cam, rtol=1e-3, atol=1e-5)


def test_set_problems_are_reported_before_model_work(model, tmp_path):
    (tmp_path / "flat").mkdir()
    Image.fromarray(draw_photo(1, 50, 50)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(HardSetError, match="no class folders"):
        evaluate(model, tmp_path / "flat", store=Store(tmp_path / "s.sqlite"))
    root = make_set(tmp_path / "dup", extra_bad=False)
    (root / "test" / "real" / "copy.png").write_bytes((root / "test" / "fake" / "0.png").read_bytes())
    with pytest.raises(HardSetError, match="two labels"):
        evaluate(model, root, store=Store(tmp_path / "s.sqlite"))


def test_manifest_source(model, tmp_path):
    root = make_set(tmp_path / "set", extra_bad=False)
    rows = ["path,label"] + [f"test/{lab}/{i}.png,{lab}" for lab in ("fake", "real") for i in range(3)]
    (root / "m.csv").write_text("\n".join(rows))
    ev = evaluate(model, root / "m.csv", store=Store(tmp_path / "s.sqlite"))
    assert len(ev.rows) == 6 and {r.label for r in ev.rows} == {"fake", "real"}


def _no_model_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("model work for a focus-only pass")

    for name in ("predict_and_cam", "forward_features"):
        monkeypatch.setattr(f"facefake_core.evaluation.runner.{name}", boom)


def test_rows_with_stale_focus_measures_get_new_ones_without_model_work(model, tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", extra_bad=False)
    first = evaluate(model, root, store=store)
    # Rewrite one stored row as an older focus rule would have left it, and forget its measures.
    r = first.rows[0]
    cams = np.stack([r.cam_for(c) for c in r.probs])
    store.put_results(model.info.sha256, [(r.image_sha, r.probs, r.cam, "layer4", {"dof_score": 2.5}, cams)])
    with store._connect() as con:
        con.execute("DELETE FROM focus WHERE image_sha=?", (r.image_sha,))
    _no_model_work(monkeypatch)
    again = evaluate(model, root, store=store)
    assert again.computed == 0 and again.reused == 6
    assert again.rows[0].focus_dict() == r.focus_dict()  # the same measures and CAM shares, from the stored CAM
    assert again.rows[0].probs == r.probs and np.array_equal(again.rows[0].cam, r.cam)
    third = evaluate(model, root, store=store)  # and they were stored
    assert third.rows[0].focus_dict() == r.focus_dict()


def test_a_row_whose_file_no_longer_decodes_keeps_its_results_without_focus(model, tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", extra_bad=False)
    r = evaluate(model, root, store=store).rows[0]
    store.put_results(model.info.sha256, [(r.image_sha, r.probs, r.cam, "layer4", {"dof_score": 2.5})])
    with store._connect() as con:
        con.execute("DELETE FROM focus WHERE image_sha=?", (r.image_sha,))

    def undecodable(data, name, *a, **k):
        raise ImageLoadError(f"{name}: cannot be decoded")

    monkeypatch.setattr("facefake_core.evaluation.runner.decode", undecodable)
    _no_model_work(monkeypatch)
    again = evaluate(model, root, store=store)
    assert len(again.rows) == 6 and again.rows[0].path == r.path
    assert again.rows[0].focus is None and again.rows[0].probs == r.probs  # no stale measures shown
    assert store.get_results(model.info.sha256, [r.image_sha])[r.image_sha].focus == {"dof_score": 2.5}


@pytest.mark.parametrize("defer", [False, True])
def test_a_first_pass_without_focus_is_filled_later_without_model_work(model, tmp_path, monkeypatch, defer):
    """``with_focus=False`` (``--no-focus``) first, then a run that fills the measures and the CAM's shares from the
    stored CAM: the rows equal one evaluation with focus inline (a fresh store); deferring does the same in one run."""
    root = make_set(tmp_path / "set")
    inline = evaluate(model, root, store=Store(tmp_path / "a.sqlite"), defer_focus=False)
    if defer:
        later = evaluate(model, root, store=Store(tmp_path / "b.sqlite"), defer_focus=True)
    else:
        store = Store(tmp_path / "b.sqlite")
        fast = evaluate(model, root, store=store, with_focus=False)
        assert fast.computed == 6 and all(r.focus is None and r.bokeh_share is None for r in fast.rows)
        _no_model_work(monkeypatch)
        seen = []
        later = evaluate(model, root, store=store, progress=lambda d, t, what: seen.append((d, t, what)))
        assert later.computed == 0 and (6, 6, "focus measures") in seen  # the page's "focus measures: 100%"
    assert len(later.rows) == 6 and len(later.errors) == 1  # the unreadable file is still an error row
    for a, b in zip(inline.rows, later.rows):
        assert a.probs == pytest.approx(b.probs, abs=1e-6)
        fa, fb = a.focus_dict(), b.focus_dict()
        assert fa.keys() == fb.keys() and "bokeh_share" in fa
        for k, v in fa.items():
            assert fb[k] == (pytest.approx(v, rel=1e-5, abs=1e-9) if isinstance(v, float) else v), k


def test_cpu_lanes_share_out_the_threads():
    from facefake_core.evaluation import cpu_lanes

    assert cpu_lanes(1) == (1, 1)
    assert cpu_lanes(2) == (2, 1)
    assert cpu_lanes(8) == (4, 2)
    assert cpu_lanes(16) == (4, 4)
    assert cpu_lanes(8, lanes=1) == (1, 8) and cpu_lanes(2, lanes=3) == (2, 1)


def test_lanes_equal_the_single_model_thread(model, tmp_path):
    root = make_set(tmp_path / "set", n=5)
    lanes = evaluate(model, root, store=Store(tmp_path / "a.sqlite"), batch_size=2)
    single = evaluate(model, root, store=Store(tmp_path / "b.sqlite"), batch_size=2, lanes=1)  # the GPU's route
    assert [r.path for r in lanes.rows] == [r.path for r in single.rows] and len(lanes.rows) == 10
    assert [e.path for e in lanes.errors] == [e.path for e in single.errors]
    for a, b in zip(lanes.rows, single.rows):
        assert a.probs == pytest.approx(b.probs, abs=1e-5)
        np.testing.assert_allclose(a.cam, b.cam, rtol=1e-3, atol=1e-5)
        fa, fb = a.focus_dict(), b.focus_dict()
        assert fa.keys() == fb.keys()
        for k, v in fa.items():  # the CAM shares follow the CAM's float rounding, which depends on threads
            assert v == (pytest.approx(fb[k], rel=1e-4) if isinstance(v, float) else fb[k]), k


def test_a_failing_lane_stops_the_run_keeps_what_was_stored_and_restores_threads(model, tmp_path, monkeypatch):
    import threading

    import torch

    from facefake_core.evaluation import runner as evaluation

    before = torch.get_num_threads()
    real, lock, failed, calls = evaluation.predict_and_cam, threading.Lock(), threading.Event(), []

    def second_call_fails(split, x, **kw):
        with lock:
            calls.append(len(x))
            n = len(calls)
        if n == 2:
            failed.set()
            raise RuntimeError("model broke")
        if n == 1:
            failed.wait(30)  # the other lane's batch finishes after the failure
        return real(split, x, **kw)

    monkeypatch.setattr(evaluation, "predict_and_cam", second_call_fails)
    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", n=4, extra_bad=False)
    with pytest.raises(RuntimeError, match="model broke"):
        evaluate(model, root, store=store, batch_size=1, lanes=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("facefake-lane")]
    assert torch.get_num_threads() == before
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start(), t.join()
    assert seen == [before]  # a thread starting torch work afterwards gets the caller's count again

    monkeypatch.setattr(evaluation, "predict_and_cam", real)
    resumed = evaluate(model, root, store=store, batch_size=1)
    assert len(resumed.rows) == 8 and resumed.reused >= 1  # the batch that finished after the failure was kept
    assert resumed.computed == 8 - resumed.reused


def test_a_caller_that_stops_stops_the_lanes(model, tmp_path):
    """An exception from the progress callback (Streamlit's rerun, Ctrl-C) ends the lanes before evaluate returns,
    even while the exception (and so evaluate's frame) is still held."""
    import threading

    class Stop(Exception):
        pass

    def progress(done, total, what):
        if done:
            raise Stop

    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", n=8, extra_bad=False)
    with pytest.raises(Stop) as held:  # holding the exception holds evaluate's frame, as a UI showing it would
        evaluate(model, root, store=store, batch_size=1, lanes=2, progress=progress)
    assert not [t for t in threading.enumerate() if t.name.startswith("facefake-lane")]
    del held
    again = evaluate(model, root, store=store, batch_size=1)
    assert again.reused < 16 and again.computed == 16 - again.reused  # stopped early, not run on through the set


def test_focus_measures_are_measured_once_per_image_for_all_models(model, tmp_path, monkeypatch):
    """Focus measures depend on the image alone: another model's evaluation of the same set reuses them."""
    import sqlite3

    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", extra_bad=False)
    first = evaluate(model, root, store=store)
    with sqlite3.connect(store.path) as con:
        con.execute("DELETE FROM results")  # as for a model never evaluated here; the focus table stays
    assert len(store.get_focus([r.image_sha for r in first.rows], first.rows[0].focus_dict()["focus_version"])) == 6

    def boom(*a, **k):
        raise AssertionError("focus measured again")

    monkeypatch.setattr("facefake_core.evaluation.runner.measure_focus", boom)
    second = evaluate(model, root, store=store)
    assert second.computed == 6
    for a, b in zip(first.rows, second.rows):
        assert a.focus_dict() == b.focus_dict()  # the same measures, and the same CAM shares from the stored block map


def test_stored_focus_is_what_measure_focus_measures_on_the_photo(model, tmp_path):
    """``stored_focus`` gives back, by hash, the measures and block map the evaluation stored: those
    ``measure_focus`` finds on the decoded photo (the Depth of field page and Inspect draw them from there)."""
    from facefake_core.evaluation import stored_focus
    from facefake_core.imaging import load_photo, measure_focus

    store = Store(tmp_path / "s.sqlite")
    ev = evaluate(model, make_set(tmp_path / "set", n=2, extra_bad=False), store=store)
    got = stored_focus(store, [r.image_sha for r in ev.rows] + ["0" * 64])
    assert set(got) == {r.image_sha for r in ev.rows}  # an unknown hash is simply absent
    for r in ev.rows:
        photo = load_photo(r.path)
        assert photo.sha256 == r.image_sha
        fresh, kept = measure_focus(photo.pixels), got[r.image_sha]
        assert kept.to_dict() == fresh.to_dict()
        assert kept.block_map.dtype == np.float32 and np.array_equal(kept.block_map, fresh.block_map)


def test_focus_of_another_rule_version_is_not_reused(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put_focus(1, [("abc", {"dof_score": 0.5}, np.ones((2, 3), np.float32))])
    assert store.get_focus(["abc"], 2) == {}
    measures, block_map = store.get_focus(["abc"], 1)["abc"]
    assert measures == {"dof_score": 0.5} and block_map.dtype == np.float32 and block_map.shape == (2, 3)


def _grad_cam_of(model, path, cls):
    """pytorch-grad-cam's own GradCAM of class ``cls`` on the learner's unfolded network, through the whole network."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from facefake_core.imaging import load_photo

    x = model.prepare([load_photo(path)]).contiguous()
    net = model.source_net
    net.requires_grad_(True)
    try:
        with GradCAM(model=net, target_layers=[net.get_submodule(model.layers["layer4"])]) as cam:
            out = cam(input_tensor=x, targets=[ClassifierOutputTarget(model.vocab.index(cls))])
    finally:
        net.requires_grad_(False)
        for p in net.parameters():
            p.grad = None
    return out, tuple(x.shape[-2:])


def test_every_class_cam_is_stored_and_equals_pytorch_grad_cam(model, tmp_path):
    from pytorch_grad_cam.utils.image import scale_cam_image

    store = Store(tmp_path / "s.sqlite")
    ev = evaluate(model, make_set(tmp_path / "set", n=2, extra_bad=False), store=store, batch_size=3)
    again = evaluate(model, ev.source, store=store)  # read back from the store
    assert again.computed == 0
    for row in again.rows:
        assert set(row.class_cams) == set(model.vocab)
        np.testing.assert_array_equal(row.cam_for(row.pred), row.cam)  # the predicted class's map is `cam`
        for cls in model.vocab:
            expected, (h, w) = _grad_cam_of(model, row.path, cls)
            ours = scale_cam_image(scale_cam_image(row.cam_for(cls)[None], (w, h)))
            np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_rows_stored_before_every_class_cam_are_filled_in(model, tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    root = make_set(tmp_path / "set", extra_bad=False)
    first = evaluate(model, root, store=store)
    r = first.rows[0]
    other = next(c for c in model.vocab if c != r.pred)
    # Rewrite one row as a store from before schema 3 has it: the predicted class's map only.
    store.put_results(model.info.sha256, [(r.image_sha, r.probs, r.cam, "layer4", r.focus_dict())])
    old = store.get_results(model.info.sha256, [r.image_sha])[r.image_sha]
    assert old.class_cams is None and np.array_equal(old.cam, r.cam)
    from facefake_core.evaluation import Row
    from facefake_core.evaluation.hardset import Item

    marked = Row.from_stored(Item(r.path, r.label), r.image_sha, old)
    assert marked.cam_for(other) is None and np.array_equal(marked.cam_for(r.pred), r.cam)  # missing, not another's
    seen = []
    monkeypatch.setattr("facefake_core.evaluation.runner.measure_focus", lambda *a: seen.append("focus"))
    again = evaluate(model, root, store=store, with_focus=False)
    assert again.computed == 0 and not seen  # only the CAMs were run, nothing else
    filled = {row.image_sha: row for row in again.rows}[r.image_sha]
    for cls in model.vocab:
        np.testing.assert_allclose(filled.cam_for(cls), r.cam_for(cls), rtol=1e-3, atol=1e-5)
    assert store.get_results(model.info.sha256, [r.image_sha])[r.image_sha].class_cams.shape == (2, 4, 4)


def test_a_schema_2_store_opens_with_nothing_lost(tmp_path):
    import sqlite3

    path = tmp_path / "s.sqlite"
    Store(path).put_results("m", [("a", {"fake": 0.3, "real": 0.7}, np.ones((2, 2), np.float32), "layer4", None)])
    with sqlite3.connect(path) as con:
        con.execute("DROP TABLE class_cams")
        con.execute("PRAGMA user_version=2")
    store = Store(path)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 4  # migrated to the current schema (4: the columnar copies)
    got = store.get_results("m", ["a"])["a"]
    assert got.probs == {"fake": 0.3, "real": 0.7} and np.array_equal(got.cam, np.ones((2, 2))) and got.class_cams is None
