"""The feature space: projections are deterministic for a seed and cached in the store; neighbours and their
distances agree with cosine distances worked out by hand; a re-encoded, resized copy of a demo portrait placed in a
second set is found as that portrait's first neighbour and as a cross-set near-duplicate, and distinct portraits
are not."""

import io

import numpy as np
import pytest
from PIL import Image

from facefake_core import evaluate
from facefake_core import CONFIG
from facefake_core.analysis import (
    SetFeatures, embedding_map, image_hashes, map_frame, near_duplicates, neighbours, project, set_features,
    stored_features,
)
from facefake_core.demo import render_portrait
from facefake_core.evaluation import Evaluation, Row, Store


def vectors(n=60, d=512, seed=0) -> np.ndarray:
    """Clustered random vectors (three clusters), float16 like the stored ones."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d))
    return (centres[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float16)


def fake_evaluation(store: Store, vecs: np.ndarray, source="set", model_sha="m" * 64) -> Evaluation:
    """An Evaluation over made-up rows whose features are put in the store directly (no model)."""
    rows = tuple(Row(f"/{source}/{i}.png", ("fake", "real")[i % 2], image_sha=f"{source}{i:06d}",
                     probs={"fake": 0.2 + 0.6 * (i % 2 == 0), "real": 0.8 - 0.6 * (i % 2 == 0)})
                 for i in range(len(vecs)))
    store.put_features(model_sha, [(r.image_sha, v) for r, v in zip(rows, vecs)])
    return Evaluation(model_sha, ("fake", "real"), source, rows, (), computed=0, reused=len(rows))


def test_pca_projection_is_deterministic_and_two_dimensional():
    x = vectors()
    a, b = project(x, "pca", seed=0), project(x, "pca", seed=0)
    assert a.shape == (60, 2) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert a.std(0).min() > 0  # a real spread, not a constant


def test_umap_projection_is_deterministic_for_a_seed():
    pytest.importorskip("umap")
    x = vectors(n=40)
    a, b = project(x, "umap", seed=3), project(x, "umap", seed=3)
    assert a.shape == (40, 2) and np.array_equal(a, b)
    assert not np.array_equal(a, project(x, "umap", seed=4))


def test_map_is_computed_once_then_read_from_the_store(tmp_path, monkeypatch):
    store = Store(tmp_path / "s.sqlite")
    ev = fake_evaluation(store, vectors(n=20))
    first = embedding_map(ev, store, "pca", seed=0)
    assert not first.cached and first.coords.shape == (20, 2)

    def boom(*a, **k):
        raise AssertionError("projected again")

    monkeypatch.setattr("facefake_core.analysis.embedding.project", boom)
    again = embedding_map(ev, Store(tmp_path / "s.sqlite"), "pca", seed=0)
    assert again.cached and np.array_equal(again.coords, first.coords)
    with pytest.raises(AssertionError, match="projected again"):  # other parameters: another map
        embedding_map(ev, store, "pca", seed=1)
    points = first.points()
    assert set(points[0]) == {"path", "x", "y", "label", "pred"} and points[0]["path"] == "/set/0.png"
    frame = map_frame(first, ev, 0.5)
    assert list(frame["correct"]) == [r.pred == r.label for r in ev.rows]


def test_neighbours_match_cosine_distances_by_hand(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    x, y = vectors(n=30, seed=1), vectors(n=12, seed=2)
    a = set_features(fake_evaluation(store, x, "a"), store)
    b = set_features(fake_evaluation(store, y, "b"), store)
    pool = np.concatenate([x, y]).astype(np.float32)
    unit = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    by_hand = 1 - unit @ unit[4]
    by_hand[4] = np.inf  # the query's own row is left out
    order = np.argsort(by_hand, kind="stable")[:5]
    found = neighbours(a.vectors[4], [a, b], k=5, exclude=("a", "/a/4.png"))
    names = [f"/a/{i}.png" if i < 30 else f"/b/{i - 30}.png" for i in order]
    assert [n.path for n in found] == names
    np.testing.assert_allclose([n.distance for n in found], by_hand[order], atol=1e-5)
    assert [n.set for n in found] == ["a" if i < 30 else "b" for i in order]


def test_near_duplicates_are_the_pairs_under_the_threshold(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    x = vectors(n=10, seed=5).astype(np.float32)
    y = np.stack([x[3] + 1e-3 * np.abs(x[3]).mean(), x[7] * 0.5 + 0.2])  # a copy of x[3], and an unrelated vector
    pools = [set_features(fake_evaluation(store, x, "a"), store), set_features(fake_evaluation(store, y, "b"), store)]
    unit = lambda v: v / np.linalg.norm(v)
    d37 = 1 - float(unit(x[3]) @ unit(y[0].astype(np.float16).astype(np.float32)))
    pairs = near_duplicates(pools, threshold=1e-3)
    assert [(p.a, p.b, p.cross_set) for p in pairs] == [("/a/3.png", "/b/0.png", True)]
    assert pairs[0].distance == pytest.approx(d37, abs=1e-5)
    assert near_duplicates(pools[:1], threshold=1e-3) == []


def _png(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _recompressed_resized(pixels: np.ndarray, crop: float = 0.0) -> np.ndarray:
    """JPEG at quality 80 of a copy shrunk to 75% (first cropped by ``crop`` a side): what a re-shared copy of a
    portrait goes through."""
    img = Image.fromarray(pixels)
    d = round(img.width * crop)
    img = img.crop((d, d, img.width - d, img.height - d))
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _demo_round0():
    """The built demo's trained round0 (``FACEFAKE_DEMO_DIR`` or the cache), or ``None``: building it takes minutes."""
    from facefake_core.demo import find_demo

    paths = find_demo()
    return None if paths is None else paths.models["round0"]


@pytest.fixture(params=["random-init learner", "demo round0 (trained)"])
def any_model(request):
    if request.param.startswith("random"):
        return request.getfixturevalue("model")
    pkl = _demo_round0()
    if pkl is None:  # no full demo built here: the tiny demo's round0 is trained too, in seconds
        from facefake_core.demo import build_demo

        pkl = build_demo(request.getfixturevalue("tmp_path_factory").mktemp("demo"), scale="tiny").models["round0"]
    from facefake_core import load_model

    return load_model(str(pkl), device="cpu")


def test_a_recompressed_resized_copy_in_a_second_set_is_found(any_model, tmp_path):
    hard, train = tmp_path / "hard", tmp_path / "train"
    portraits = {(label, style, i): render_portrait(5000 + 10 * i, label, style, size=128)
                 for label in ("fake", "real") for style in ("casual", "studio") for i in range(2)}
    for (label, style, i), px in portraits.items():
        _png(hard / label / f"{style}_{i}.png", px)
    _png(train / "fake" / "copy.png", _recompressed_resized(portraits[("fake", "studio", 1)]))  # PNG: pixels kept
    _png(train / "real" / "cropped.png", _recompressed_resized(portraits[("real", "casual", 0)], crop=0.04))
    _png(train / "real" / "other.png", render_portrait(9999, "real", "casual", size=128))
    store = Store(tmp_path / "s.sqlite")
    pools = [set_features(evaluate(any_model, src, store=store, with_focus=False), store, name)
             for name, src in (("hard", hard), ("train", train))]
    assert [len(p.rows) for p in pools] == [8, 3] and isinstance(pools[0], SetFeatures)
    original = str(hard / "fake" / "studio_1.png")
    i = pools[0].index_of(original)
    first = neighbours(pools[0].vectors[i], pools, k=3, exclude=("hard", original))[0]
    assert (first.path, first.set) == (str(train / "fake" / "copy.png"), "train")

    hashes = image_hashes(pools, store)
    assert len(hashes) == 11
    pairs = near_duplicates(pools, hashes=hashes)  # the default thresholds, as the CLI and the page use them
    assert sorted((p.a, p.b, p.cross_set, p.kind) for p in pairs) == [
        (original, str(train / "fake" / "copy.png"), True, "hash"),
        (str(hard / "real" / "casual_0.png"), str(train / "real" / "cropped.png"), True, "hash"),
    ]
    assert all(p.hamming <= CONFIG.near_duplicate_hamming for p in pairs)


def test_stored_features_pool_every_image_the_store_holds_for_the_model(model, tmp_path):
    """Sets evaluated elsewhere (the CLI) are found through the store: each file with its folder's class, its stored
    probabilities and the same vector as its own set's; skipped paths and vanished files are left out."""
    from conftest import make_image_folder

    store = Store(tmp_path / "s.sqlite")
    a = evaluate(model, str(make_image_folder(tmp_path / "a", n=2)), store=store, with_focus=False)
    b_root = tmp_path / "b"
    for label in ("fake", "real"):
        (b_root / label).mkdir(parents=True)
        for i in range(2):
            _png(b_root / label / f"{i}.png", render_portrait(700 + 10 * i, label, "casual", size=96))
    b = evaluate(model, str(b_root), store=store, with_focus=False)
    (b_root / "real" / "1.png").unlink()
    pool = stored_features(store, model.info.sha256, a.vocab, skip={r.path for r in a.rows})
    expected = [r for r in b.rows if r.path != str(b_root / "real" / "1.png")]
    assert sorted(r.path for r in pool.rows) == sorted(r.path for r in expected)
    own = set_features(b, store)
    for r in pool.rows:
        twin = next(x for x in b.rows if x.path == r.path)
        assert (r.label, r.image_sha, r.probs) == (twin.label, twin.image_sha, twin.probs)
        assert np.array_equal(pool.vectors[pool.index_of(r.path)], own.vectors[own.index_of(r.path)])
    assert pool.name == "stored" and pool.model_sha == a.model_sha
