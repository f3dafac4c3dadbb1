"""The model's own feature space: 2-D maps of an evaluated set, nearest neighbours within and across sets, and
near-duplicates.

The vectors are what evaluation stores with each row (:meth:`~facefake_core.evaluation.Store.get_features`): the
input of the head's final Linear, from the pass that gave the probabilities, as float16 ``(D,)`` (``D = 512`` for
fastai's default head). Here they become float32 ``(N, D)`` matrices, one row per image, in evaluation order.

* **Distances** are cosine distances, ``1 - cos(a, b)`` in ``[0, 2]``, computed by scikit-learn's
  ``NearestNeighbors(metric="cosine")`` on the stored vectors.
* **Maps**: the vectors are L2-normalised (so the map's geometry is the cosine geometry of the neighbours), then
  projected to 2-D by PCA (scikit-learn; the default: deterministic and fast) or UMAP (umap-learn, seeded, run on
  the first 50 principal components). A map is cached in the store under the model, the method, its parameters
  and a digest of the set's images in order, so it is computed once.
* **Near-duplicates** are pairs whose perceptual hashes (:mod:`facefake_core.imaging.perceptual`, of the pixels
  alone, stored per image sha) differ in at most ``CONFIG.near_duplicate_hamming`` bits. Only where an image has no
  hash (its file can no longer be read) does the feature distance decide, under ``CONFIG.near_duplicate_distance``.
  How both were measured: docs/embedding-map.md: the hash finds re-encoded, resized and slightly cropped
  copies, which a detector's features mostly do not, and lists no distinct demo portraits, which the features do. A
  pair whose images lie in two different sets is flagged as ``cross_set``: the same face in a training folder and
  in the hard set is leakage.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import CONFIG
from ..errors import EmbeddingError, ImageLoadError
from ..evaluation import Evaluation, Row, Store, predict_at
from ..imaging import load_photo
from ..imaging.perceptual import HASH_BITS, HASH_VERSION, hash_pairs, perceptual_hash
from .dof import focus_frame

METHODS = ("pca", "umap")
#: Bumped whenever the projection code changes what it returns, so cached maps from older code are not reused.
PROJECTION_VERSION = 2
#: UMAP runs on at most this many principal components (faster neighbour search, same map in practice).
UMAP_PCA_DIMS = 50
#: Above ``UMAP_FEW`` points UMAP runs ``UMAP_EPOCHS`` epochs (umap-learn's own default above 10,000), not 500.
UMAP_FEW, UMAP_EPOCHS = 5000, 200


@dataclass(frozen=True)
class SetFeatures:
    """The stored feature vectors of one evaluated set.

    Attributes:
        name: what the set is called in results (its source: a folder or manifest).
        model_sha: the model whose features these are.
        rows: rows that have a vector, in evaluation order.
        vectors: float32 ``(len(rows), D)``.
        missing: rows without a vector (a head that does not end in a Linear stores none).
    """

    name: str
    model_sha: str
    rows: tuple[Row, ...]
    vectors: np.ndarray = field(repr=False)
    missing: tuple[Row, ...] = ()

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    def index_of(self, path: str) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r.path == path), None)


def set_features(ev: Evaluation, store: Store, name: str | None = None) -> SetFeatures:
    """The vectors ``store`` holds for ``ev``'s rows (see :class:`SetFeatures`)."""
    return _pool(name or ev.source, ev.model_sha, ev.rows,
                 store.get_features(ev.model_sha, [r.image_sha for r in ev.rows]))


def _pool(name: str, model_sha: str, rows: Sequence[Row], stored: Mapping[str, np.ndarray]) -> SetFeatures:
    """The rows' vectors from ``stored`` (image sha -> vector) as a :class:`SetFeatures`."""
    have = tuple(r for r in rows if r.image_sha in stored)
    dims = {stored[r.image_sha].shape[0] for r in have}
    if len(dims) > 1:
        raise EmbeddingError(f"{name}: stored feature vectors have different sizes {sorted(dims)}")
    vectors = (np.stack([stored[r.image_sha] for r in have]).astype(np.float32) if have
               else np.zeros((0, 0), np.float32))
    return SetFeatures(name, model_sha, have, vectors, tuple(r for r in rows if r.image_sha not in stored))


def stored_features(store: Store, model_sha: str, vocab: Sequence[str], skip: Collection[str] = (),
                    name: str = "stored") -> SetFeatures:
    """Every image ``store`` holds a feature vector for under the model (any set, evaluated from the CLI or any
    server), as one pool; files that no longer exist and paths in ``skip`` are left out.

    The store keeps results per image, not per set, so a row's ``label`` is its folder's name when that is a class of
    ``vocab`` (a folder of class subfolders) and ``""`` otherwise; its probabilities are the stored ones.
    """
    files = [(p, sha) for p, sha in store.feature_files(model_sha) if p not in skip and os.path.isfile(p)]
    shas = list(dict.fromkeys(sha for _, sha in files))
    vecs, results = store.get_features(model_sha, shas), store.get_results(model_sha, shas)
    rows = [Row(p, Path(p).parent.name if Path(p).parent.name in vocab else "", image_sha=sha,
                probs=results[sha].probs if sha in results else {}) for p, sha in files]
    return _pool(name, model_sha, rows, vecs)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0, n_neighbors: int = 15,
            min_dist: float = 0.1) -> np.ndarray:
    """A 2-D map of feature vectors.

    Args:
        vectors: float ``(N, D)``.
        method: ``"pca"`` (scikit-learn) or ``"umap"`` (umap-learn on the first :data:`UMAP_PCA_DIMS` principal
            components, over scikit-learn's exact ``n_neighbors`` graph; :data:`UMAP_EPOCHS` epochs above
            :data:`UMAP_FEW` points).
        seed: random state of both; the same inputs and seed give the same map.
        n_neighbors, min_dist: UMAP's parameters (``n_neighbors`` is capped below ``N``); PCA ignores them.

    Returns:
        float32 ``(N, 2)``.

    Raises:
        EmbeddingError: an unknown method, too few images for UMAP, or umap-learn not installed.
    """
    if method not in METHODS:
        raise EmbeddingError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    from sklearn.decomposition import PCA

    x = _unit(np.asarray(vectors, np.float32))
    n = len(x)
    if method == "umap" and n < 5:
        raise EmbeddingError(f"UMAP needs at least 5 images, this set has {n}; use --method pca")
    if n < 3:  # PCA of one or two points: a line at most
        return np.pad(x[:, :1] - x[:, :1].mean(0), ((0, 0), (0, 1))).astype(np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x).astype(np.float32)
    try:
        import umap
    except ImportError:
        raise EmbeddingError("UMAP needs the umap-learn package (pip install umap-learn); PCA works without it") \
            from None
    from sklearn.neighbors import NearestNeighbors

    reduced = PCA(n_components=min(UMAP_PCA_DIMS, n - 1, x.shape[1]), random_state=seed).fit_transform(x)
    k = max(2, min(n_neighbors, n - 1))
    # The exact k-NN graph from scikit-learn (about 1 s for 10,000 points in 50-d), handed to UMAP: it skips
    # pynndescent, whose numba compilation cost most of a first map's time in a process (docs/embedding-map.md,
    # "Speed").
    knn_dists, knn = NearestNeighbors(n_neighbors=k).fit(reduced).kneighbors(reduced)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=min_dist, random_state=seed, n_jobs=1,
                        n_epochs=UMAP_EPOCHS if n > UMAP_FEW else None, precomputed_knn=(knn, knn_dists))
    with warnings.catch_warnings():  # "transform will be unavailable": the map is all that is used
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        return np.asarray(reducer.fit_transform(reduced), np.float32)


def warm_up_umap() -> None:
    """Compile umap-learn's numba code (tens of seconds, once per process) on a tiny made-up set, so that the first
    real UMAP map does not pay for it; a no-op without umap-learn. The dashboard runs it in the background."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return
    project(np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32), "umap", n_neighbors=5)


@dataclass(frozen=True)
class EmbeddingMap:
    """A 2-D map of one evaluated set.

    Attributes:
        features: the set's vectors (its ``rows`` are the map's points, in order).
        coords: float32 ``(N, 2)``.
        method, params: how it was projected (``params`` holds the seed and the method's parameters).
        cached: whether it was read from the store; seconds: time spent projecting (or reading).
    """

    features: SetFeatures
    coords: np.ndarray = field(repr=False)
    method: str
    params: dict
    cached: bool
    seconds: float

    def points(self) -> list[dict]:
        """``[{path, x, y, label, pred}]`` per image, in evaluation order (the CLI's JSON)."""
        return [{"path": r.path, "x": float(x), "y": float(y), "label": r.label, "pred": r.pred}
                for r, (x, y) in zip(self.features.rows, self.coords)]


def map_frame(m: EmbeddingMap, ev: Evaluation, threshold: float = CONFIG.threshold) -> pd.DataFrame:
    """One line per point of the map, what the figures colour by.

    Columns: ``path``, ``image_sha``, ``x``, ``y``, ``label``, ``style``, ``p_fake`` (P of the positive class),
    ``pred`` (decision at ``threshold``), ``correct``, and from the focus measures ``narrow_dof``, ``slice`` and
    ``dof_score`` (missing for rows measured without them).
    """
    rows = m.features.rows
    p = np.array([r.probs[ev.positive] for r in rows], float)
    preds = predict_at(p, ev.vocab, threshold) if rows else []
    frame = pd.DataFrame({"path": [r.path for r in rows], "image_sha": [r.image_sha for r in rows],
                          "x": m.coords[:, 0], "y": m.coords[:, 1], "label": [r.label for r in rows],
                          "style": [r.style for r in rows], "p_fake": p, "pred": list(preds)})
    frame["correct"] = frame["pred"] == frame["label"]
    focus = focus_frame(ev, threshold)[["path", "narrow_dof", "slice", "dof_score"]]
    return frame.merge(focus.drop_duplicates("path"), on="path", how="left")


def _map_key(rows: Sequence[Row], method: str, params: dict) -> str:
    digest = hashlib.sha256("\n".join(r.image_sha for r in rows).encode()).hexdigest()
    return json.dumps({"v": PROJECTION_VERSION, "method": method, **params, "images": digest}, sort_keys=True)


def embedding_map(ev: Evaluation, store: Store, method: str = "pca", seed: int = 0, n_neighbors: int = 15,
                  min_dist: float = 0.1, name: str | None = None) -> EmbeddingMap:
    """The set's 2-D map, from the store when this model, method, parameters and images were projected before.

    Raises:
        EmbeddingError: the set has no stored feature vectors (see :func:`project` for the rest).
    """
    feats = set_features(ev, store, name)
    if not feats.rows:
        raise EmbeddingError(f"{feats.name}: no feature vectors are stored for this model; evaluate the set again")
    params = {"seed": seed} if method == "pca" else {"seed": seed, "n_neighbors": n_neighbors, "min_dist": min_dist}
    key = _map_key(feats.rows, method, params)
    start = time.perf_counter()
    coords = store.get_projection(ev.model_sha, key)
    cached = coords is not None and coords.shape == (len(feats.rows), 2)
    if not cached:
        coords = project(feats.vectors, method, seed, n_neighbors, min_dist)
        store.put_projection(ev.model_sha, key, coords)
    return EmbeddingMap(feats, coords, method, params, cached, time.perf_counter() - start)


@dataclass(frozen=True)
class Neighbour:
    """One image near a query, in a set's feature space; ``distance`` is the cosine distance."""

    path: str
    set: str
    distance: float
    label: str
    pred: str
    image_sha: str

    def to_dict(self) -> dict:
        return {"path": self.path, "set": self.set, "distance": self.distance, "label": self.label,
                "pred": self.pred}


def neighbours(query: np.ndarray, pools: Sequence[SetFeatures], k: int = 5,
               exclude: tuple[str, str] | None = None) -> list[Neighbour]:
    """The ``k`` images of ``pools`` nearest to ``query``, nearest first (ties keep the pools' order).

    Args:
        query: float ``(D,)`` feature vector.
        pools: sets of the same model to search (the query's own set among them, usually).
        k: how many.
        exclude: ``(set name, path)`` of the query's own row, left out.
    """
    from sklearn.neighbors import NearestNeighbors

    rows = [(p.name, r) for p in pools for r in p.rows]
    vecs = [p.vectors for p in pools if len(p.rows)]
    if not rows or k < 1:
        return []
    x = np.concatenate(vecs).astype(np.float32)
    n = min(len(rows), k + (exclude is not None))
    nn = NearestNeighbors(n_neighbors=n, metric="cosine", algorithm="brute").fit(x)
    dist, idx = nn.kneighbors(np.asarray(query, np.float32).reshape(1, -1))
    out = [Neighbour(r.path, name, max(float(d), 0.0), r.label, r.pred, r.image_sha)
           for d, i in zip(dist[0], idx[0]) for name, r in [rows[i]] if (name, r.path) != exclude]
    return out[:k]


def image_hashes(pools: Sequence[SetFeatures] | Mapping[str, str], store: Store | None = None,
                 workers: int = 2) -> dict[str, np.ndarray]:
    """Perceptual hashes (:func:`~facefake_core.imaging.perceptual.perceptual_hash`) of the pools' images (or of a
    mapping image sha -> path) by image sha: read from ``store``, or computed from the files once and stored there.
    Images whose file can no longer be read are left out (their pairs rest on the feature distance alone)."""
    paths = dict(pools) if isinstance(pools, Mapping) else {r.image_sha: r.path for p in pools for r in p.rows}
    known = store.get_image_hashes(list(paths), HASH_VERSION) if store is not None else {}

    def one(item: tuple[str, str]) -> tuple[str, np.ndarray | None]:
        try:
            return item[0], perceptual_hash(load_photo(item[1]).pixels)
        except ImageLoadError:
            return item[0], None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        fresh = {h: v for h, v in pool.map(one, [(h, p) for h, p in paths.items() if h not in known]) if v is not None}
    if store is not None and fresh:
        store.put_image_hashes(HASH_VERSION, [(h, np.ascontiguousarray(v, np.uint8).tobytes())
                                              for h, v in fresh.items()])
    return {**known, **fresh}


@dataclass(frozen=True)
class NearDuplicate:
    """Two images that look alike. ``distance`` is their cosine distance in feature space (always given);
    ``hamming`` their hash distance in bits (``None`` when one has no hash); ``kind`` says which decided: ``"hash"``
    or, for an image without a hash, ``"features"``."""

    a: str
    b: str
    distance: float
    set_a: str
    set_b: str
    hamming: int | None = None
    kind: str = "features"

    @property
    def cross_set(self) -> bool:
        return self.set_a != self.set_b

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "distance": self.distance, "hamming": self.hamming, "kind": self.kind,
                "set_a": self.set_a, "set_b": self.set_b, "cross_set": self.cross_set}


def near_duplicates(pools: Sequence[SetFeatures], threshold: float | None = None,
                    hashes: Mapping[str, np.ndarray] | None = None, hamming: int | None = None) -> list[NearDuplicate]:
    """Every pair of near-duplicate images in ``pools`` (within one set or across sets; module docstring), closest
    first (by hash distance, then cosine distance). An image listed in two sets is paired with itself across them.

    Args:
        pools: the sets' vectors.
        threshold: cosine distance below which a pair without hashes counts (default
            ``CONFIG.near_duplicate_distance``).
        hashes: image sha -> :func:`image_hashes`' hashes; ``None`` compares features only.
        hamming: hash distance at or below which a pair counts (default ``CONFIG.near_duplicate_hamming``).
    """
    from sklearn.neighbors import NearestNeighbors

    threshold = CONFIG.near_duplicate_distance if threshold is None else threshold
    hamming = CONFIG.near_duplicate_hamming if hamming is None else hamming
    hashes = hashes or {}
    rows = [(p.name, r) for p in pools for r in p.rows]
    if len(rows) < 2:
        return []
    x = _unit(np.concatenate([p.vectors for p in pools if len(p.rows)]).astype(np.float32))
    hashed = [i for i, (_, r) in enumerate(rows) if r.image_sha in hashes]
    found: dict[tuple[int, int], tuple[str, int | None]] = {}
    if len(hashed) > 1:
        stack = np.stack([hashes[rows[i][1].image_sha] for i in hashed])
        found.update({(hashed[a], hashed[b]): ("hash", bits) for a, b, bits in hash_pairs(stack, hamming)})
    if len(hashed) < len(rows):  # the features decide only for pairs with an image that has no hash
        has = np.zeros(len(rows), bool)
        has[hashed] = True
        nn = NearestNeighbors(radius=threshold, metric="cosine", algorithm="brute").fit(x)
        for i, (ds, js) in enumerate(zip(*nn.radius_neighbors(x, sort_results=True))):
            found.update({(i, int(j)): ("features", None) for d, j in zip(ds, js)
                          if j > i and d < threshold and not (has[i] and has[j])})
    out = [NearDuplicate(ra.path, rb.path, max(float(1 - x[i] @ x[j]), 0.0), sa, sb, bits, kind)
           for (i, j), (kind, bits) in found.items() for (sa, ra), (sb, rb) in [(rows[i], rows[j])]]
    return sorted(out, key=lambda p: (p.hamming if p.hamming is not None else HASH_BITS + 1, p.distance, p.a, p.b))
