"""Feature vectors: what evaluation stores is the input of the head's final Linear (checked with a forward hook on the
learner's own network, fed by fastai's own preprocessing), an older store keeps every row and gains the features
without anything else being recomputed."""

import sqlite3

import numpy as np
import torch
from PIL import Image

from conftest import draw_photo
from facefake_core import evaluate
from facefake_core.evaluation import Store
from facefake_core.evaluation.store import SCHEMA_VERSION


def make_set(root, n=2):
    for k, label in enumerate(["fake", "real"]):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(draw_photo(700 + 10 * k + i, 150, 130)).save(root / label / f"{i}.png")
    return root


def test_stored_feature_is_the_input_of_the_learner_s_last_linear(model, fastai_learner, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ev = evaluate(model, make_set(tmp_path / "set"), store=store, with_focus=False)
    stored = store.get_features(ev.model_sha, [r.image_sha for r in ev.rows])
    assert len(stored) == len(ev.rows) == 4

    net = fastai_learner.model.eval()
    last = net[1][-1]
    assert isinstance(last, torch.nn.Linear)
    seen = []
    hook = last.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
    try:
        for r in ev.rows:
            x = fastai_learner.dls.test_dl([r.path]).one_batch()[0]
            with torch.no_grad():
                net(x)
            expected = seen[-1][0].numpy()
            got = stored[r.image_sha]
            assert got.dtype == np.float16 and got.shape == expected.shape == (last.in_features,)
            # float16 keeps 11 significant bits: 1e-3 of the value (or 1e-3 absolute below 1)
            np.testing.assert_allclose(got.astype(np.float32), expected, rtol=1e-3, atol=1e-3)
    finally:
        hook.remove()
    assert not last._forward_hooks


def test_features_of_the_cam_pass_equal_a_forward_only_pass(model, photo_file):
    from facefake_core import load_photo
    from facefake_core.model import forward_features, predict_and_cam

    x = model.prepare([load_photo(photo_file), load_photo(draw_photo(3))])
    res = predict_and_cam(model.split(), x)
    probs, feats = forward_features(model.net, x)
    assert res.features.shape == feats.shape == (2, 512)
    np.testing.assert_allclose(res.features, feats, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.probs, probs, atol=1e-6)


def _dump(path, table):
    with sqlite3.connect(path) as con:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall())


def test_an_older_store_keeps_its_rows_and_gains_only_the_features(model, tmp_path, monkeypatch):
    db, root = tmp_path / "s.sqlite", make_set(tmp_path / "set")
    first = evaluate(model, root, store=Store(db))
    features = Store(db).get_features(first.model_sha, [r.image_sha for r in first.rows])
    # What a store written before features existed looks like: the same tables, minus the new ones.
    with sqlite3.connect(db) as con:
        con.executescript("DROP TABLE features; DROP TABLE projections; PRAGMA user_version=1;")
    before = {t: _dump(db, t) for t in ("results", "focus", "file_hashes", "triage")}

    def boom(*a, **k):
        raise AssertionError("recomputed something other than the features")

    monkeypatch.setattr("facefake_core.evaluation.runner.predict_and_cam", boom)
    monkeypatch.setattr("facefake_core.evaluation.runner.measure_focus", boom)
    store = Store(db)  # opening migrates: the new tables appear, empty
    assert store.get_features(first.model_sha, list(features)) == {}
    second = evaluate(model, root, store=store)
    assert second.computed == 0 and second.reused == 4
    assert {t: _dump(db, t) for t in before} == before  # every stored row as it was, timestamps included
    filled = store.get_features(first.model_sha, list(features))
    assert set(filled) == set(features)
    for sha, vec in features.items():
        np.testing.assert_allclose(filled[sha].astype(np.float32), vec.astype(np.float32), rtol=1e-3, atol=1e-3)
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    for a, b in zip(first.rows, second.rows):
        assert a.probs == b.probs and np.array_equal(a.cam, b.cam)


def test_head_split_finds_the_final_linear_or_nothing(model):
    from facefake_core.model import head_split

    assert head_split(model.net) is not None
    assert head_split(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.Flatten())) is None


def test_get_features_returns_the_models_stored_vectors_only(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put_features("m", [("a", np.ones(4)), ("b", np.zeros(4))])
    store.put_features("other", [("c", np.ones(4))])
    got = store.get_features("m", ["a", "b", "c", "d"])
    assert set(got) == {"a", "b"} and got["a"].tolist() == [1.0] * 4 and got["b"].dtype == np.float16
    assert set(store.get_features("m", [f"x{i}" for i in range(1200)] + ["b"])) == {"b"}  # past one 500-key query
