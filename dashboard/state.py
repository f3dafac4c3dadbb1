"""The dashboard's one caching layer: thin wrappers around core calls, nothing else.

* Models and finished evaluations are shared by every session through registries held in ``st.cache_resource``.
  They are filled *outside* any cached function, so a progress bar drawn while a model loads or a set is
  evaluated is an ordinary element (Streamlit would otherwise record and replay it). A per-key lock makes a second
  session wait for the first instead of loading the same model twice. ``Model`` keeps no per-call state, so one
  instance serves all threads.
* Per-image results are ``st.cache_data`` keyed by model sha256 + image sha256 + settings, so moving a slider
  never re-runs the network. They hold the CAM grid, not full-size maps: pages map it onto the photo with
  :func:`facefake_core.imaging.cam_overlay`, which is cheap and lets them choose the colour scale.
* Evaluations persist in the core's SQLite store; re-opening a set reads it back without model work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import streamlit as st

from facefake_core import Explanation, Model, Prediction, analysis, load_model
from facefake_core import default_source as _default_source
from facefake_core.evaluation import Evaluation, Row, Store, evaluate as _evaluate, stored_cam, stored_focus
from facefake_core.imaging import FocusMeasures, Photo, cam_overlay, load_photo, measure_focus, thumbnail
from facefake_core.progress import Progress
from facefake_core.serving import WorkQueue


class Registry:
    """A bounded, thread-safe map whose values are computed once per key (least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
            return self._values.get(key)

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def items(self) -> list[tuple[Hashable, Any]]:
        """A snapshot of ``(key, value)`` pairs, least recently used first."""
        with self._lock:
            return list(self._values.items())

    def compute(self, key: Hashable, make: Callable[[], Any], refresh: bool = False) -> Any:
        """The value for ``key``, made by ``make()`` unless present (or ``refresh``); one maker per key at a time."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            value = None if refresh else self.get(key)
            return value if value is not None else self.put(key, make())


@st.cache_resource(show_spinner=False)
def _models() -> Registry:
    return Registry(size=6)


@st.cache_resource(show_spinner=False)
def _evaluations() -> Registry:
    return Registry(size=48)


@st.cache_resource(show_spinner=False)
def _demo() -> Registry:
    return Registry(size=1)


@st.cache_resource(show_spinner=False)
def work_queue(slots: int) -> WorkQueue:
    """The server's one queue for heavy jobs in public mode (:func:`dashboard.mode.queued`), per slot count."""
    return WorkQueue(slots)


# -- models -------------------------------------------------------------------------------------------------
@st.cache_data(ttl=600, show_spinner="Looking for the default model…")
def default_source(env_model: str | None = None) -> tuple[str, str]:
    """``(source, why)`` of the default model; the env value is part of the key so a changed env is seen."""
    return _default_source()


def resolved_default() -> tuple[str, str]:
    return default_source(os.environ.get("FACEFAKE_MODEL"))


def loaded_model(src: str, trust: bool) -> Model | None:
    """The model for ``src`` if some session already loaded it (with this trust setting), else ``None``."""
    return _models().get((src, trust))


def model(src: str, trust: bool = False, progress: Progress | None = None) -> Model:
    """Load (once per server) the model ``src``; see :func:`facefake_core.load_model`. Raises its errors."""
    return _models().compute((src, trust), lambda: load_model(src, trust=trust, progress=progress))


# -- demo ---------------------------------------------------------------------------------------------------
def demo_available() -> bool:
    try:
        from facefake_core.demo import ensure_demo  # noqa: F401
    except ImportError:
        return False
    return True


def demo_paths(build: bool = False, progress: Progress | None = None):
    """The offline demo's ``DemoPaths``: ``None`` unless it is built (by this server or before) or ``build`` is set."""
    from facefake_core.demo import ensure_demo, find_demo

    if not build:
        return _demo().get("demo") or find_demo()

    return _demo().compute("demo", lambda: ensure_demo(progress=progress))


# -- images -------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def photo(data: bytes, name: str = "<upload>") -> Photo:
    """Decode uploaded bytes; errors name the uploaded file (raises :class:`~facefake_core.ImageLoadError`)."""
    return load_photo(data, name=name)


@st.cache_data(max_entries=32, show_spinner=False)
def photo_from_path(path: str, mtime_ns: int) -> Photo:
    """Decode a file on the server; ``mtime_ns`` keys the cache so an edited file is read again."""
    return load_photo(path)


@st.cache_data(max_entries=32, show_spinner=False)
def synthetic(seed: int, label: str, style: str) -> Photo:
    """A synthetic demo portrait (the offline demo's generator; instant, nothing is built)."""
    from facefake_core.demo import render_portrait

    return dataclasses.replace(load_photo(render_portrait(seed, label, style)), name=f"synth-{label}-{style}-{seed}")


@st.cache_data(max_entries=256, show_spinner="Running the model…")
def explain(_model: Model, model_sha: str, _photo: Photo, image_sha: str, method: str, target: str | None,
            layer: str | None) -> Explanation:
    """Prediction and CAM grid of one photo (``heatmap`` and ``photo`` dropped: map ``raw_cam`` when drawing)."""
    e = _model.explain_batch([_photo], method=method, target=target, layer=layer)[0]
    return dataclasses.replace(e, heatmap=None, photo=None)


@st.cache_data(max_entries=4096, show_spinner=False)
def predict(_model: Model, model_sha: str, _photo: Photo, image_sha: str) -> Prediction:
    """Class probabilities of one photo (no CAM)."""
    return _model.predict_batch([_photo])[0]


# -- hard sets ----------------------------------------------------------------------------------------------
def store() -> Store:
    """The results store (``FACEFAKE_STORE`` or the default path); cheap to open."""
    return Store()


def evaluation(mdl: Model, source: str) -> Evaluation | None:
    """A finished evaluation of ``source`` by ``mdl`` from this server's memory, or ``None``."""
    return _evaluations().get((mdl.info.sha256, source))


def run_evaluation(mdl: Model, source: str, progress: Progress | None = None, engine: str = "local") -> Evaluation:
    """Evaluate ``source`` (reusing the store, so known images cost nothing) on ``engine`` and remember the result."""
    return _evaluations().compute((mdl.info.sha256, source), lambda: _evaluate(
        mdl, source, store=store(), progress=progress, engine=engine), refresh=True)


@st.cache_data(max_entries=1024, show_spinner=False)
def stored_overlay(_mdl: Model, model_sha: str, _row: Row, image_sha: str, path: str, colormap: str, alpha: float,
                   size: int | None, vmax: float | None = None, cls: str | None = None) -> np.ndarray:
    """An evaluated image with its stored CAM of class ``cls`` (default: the predicted one) drawn on it (no model
    run), shrunk to ``size`` when given. Raises ``ValueError`` when no map of that class is stored."""
    cam = stored_cam(_row, cls)
    pixels = load_photo(path).pixels
    h, w = pixels.shape[:2]
    out = cam_overlay(pixels, cam, _mdl.prep.crop_box(w, h), vmax=vmax, alpha=alpha, colormap=colormap)
    return thumbnail(out, size) if size else out


@st.cache_data(max_entries=64, show_spinner="Scoring the map (about 25 forward passes)…")
def faithfulness(_mdl: Model, model_sha: str, _photo: Photo, image_sha: str, target: str | None, method: str) -> dict:
    """ROAD faithfulness of one photo's map (:func:`facefake_core.analysis.faithfulness`)."""
    return analysis.faithfulness(_mdl, _photo, target, method)


@st.cache_data(max_entries=32, show_spinner="Randomising a copy of the network, layer by layer…")
def sanity(_mdl: Model, model_sha: str, _photo: Photo, image_sha: str, target: str | None, method: str) -> dict:
    """Cascading randomisation of one photo's map (:func:`facefake_core.analysis.sanity`), with the maps."""
    return analysis.sanity(_mdl, _photo, target, method, with_maps=True)


# -- set-level evidence (views/hard_set.py, views/rounds.py via dashboard/evidence.py) ---------------------------
# Keyed by model sha + set + row count (a re-evaluated set with new images gets new entries).
@st.cache_data(max_entries=64, show_spinner="Reading the files' headers…")
def slice_columns(_ev: Evaluation, model_sha: str, source: str, n_rows: int) -> dict[str, list[str]]:
    """The set's slice columns, one value per row (:func:`facefake_core.analysis.slice_columns`)."""
    return analysis.slice_columns(_ev, headers=analysis.header_columns(_ev, store()))


@st.cache_data(max_entries=256, show_spinner="Computing the slice table…")
def slice_report(_ev: Evaluation, model_sha: str, source: str, n_rows: int, threshold: float, column: str,
                 ci: bool) -> dict:
    """One slice column's metrics (:func:`facefake_core.analysis.slice_report`)."""
    cols = slice_columns(_ev, model_sha, source, n_rows)
    return analysis.slice_report(_ev, threshold, columns=[column], ci=ci, cols=cols)[column]


@st.cache_data(max_entries=32, show_spinner="Auditing the files…")
def audit(_ev: Evaluation, model_sha: str, source: str, n_rows: int) -> dict:
    """The shortcut audit of the set's files (:func:`facefake_core.analysis.audit`)."""
    return analysis.audit(list(zip(_ev.column("path"), _ev.labels())), positive=_ev.positive)


@st.cache_resource(show_spinner=False)
def _robustness() -> Registry:
    return Registry(size=32)


def robustness(mdl: Model, ev: Evaluation, source: str, edits: tuple[tuple[str, tuple[float, ...]], ...],
               progress: Progress | None = None, run: bool = False) -> dict | None:
    """The set's robustness curves (:func:`facefake_core.analysis.robustness`), computed when ``run`` (the store
    keeps every edited result, so only new values run the model), else this server's last result or ``None``."""
    key = (mdl.info.sha256, source, len(ev.rows), edits)
    if not run:
        return _robustness().get(key)
    cols = slice_columns(ev, mdl.info.sha256, source, len(ev.rows))
    return _robustness().compute(key, lambda: analysis.robustness(mdl, ev, dict(edits), store=store(), slices=cols,
                                                                  progress=progress), refresh=True)


@st.cache_resource(show_spinner=False)
def _method_tables() -> Registry:
    return Registry(size=16)


def method_table(mdl: Model, rows: list[Row], methods: tuple[str, ...], target: str | None,
                 progress: Progress | None = None, run: bool = False):
    """Which CAM method is most faithful on these rows (:func:`facefake_core.analysis.method_table`), computed when
    ``run``, else this server's last result for the same model, images, methods and target (or ``None``)."""
    key = (mdl.info.sha256, tuple(r.image_sha for r in rows), methods, target)
    if not run:
        return _method_tables().get(key)
    return _method_tables().compute(key, lambda: analysis.method_table(mdl, rows, methods, target, progress=progress),
                                    refresh=True)


# -- depth of field (views/depth_of_field.py) -----------------------------------------------------------------
# The set-level summaries draw progress bars, so like evaluations they live in a registry filled outside any cached
# function, keyed by model sha + set + the set's images + settings.
@st.cache_resource(show_spinner=False)
def _dof() -> Registry:
    return Registry(size=16)


def _dof_key(kind: str, ev: Evaluation, *params: Hashable) -> tuple:
    """Model sha, set, a digest of its images (so a set re-evaluated with new images gets a new key), settings."""
    digest = hashlib.sha256("\n".join(ev.column("image_sha")).encode()).hexdigest()
    return (kind, ev.model_sha, ev.source, digest, *params)


def dof_counterfactuals(mdl: Model, ev: Evaluation, slices: tuple[str, ...], kinds: tuple[str, ...], cap: int,
                        progress: Progress | None = None, run: bool = True):
    """The set's counterfactual summary (:func:`facefake_core.analysis.counterfactual_summary`), computed once
    per set and settings; with ``run=False``, only one already computed (else ``None``)."""
    from facefake_core.analysis import counterfactual_summary

    key = _dof_key("counterfactuals", ev, slices, kinds, cap)
    if not run:
        return _dof().get(key)
    return _dof().compute(key, lambda: counterfactual_summary(mdl, ev, slices, kinds, max_per_slice=cap,
                                                              progress=progress))


def dof_class_spectra(ev: Evaluation, cap: int, progress: Progress | None = None, run: bool = True):
    """Per-class mean spectra of the set (:func:`facefake_core.analysis.class_spectra`), computed once per set;
    with ``run=False``, only ones already computed (else ``None``)."""
    from facefake_core.analysis import class_spectra

    key = _dof_key("spectra", ev, cap)
    if not run:
        return _dof().get(key)
    return _dof().compute(key, lambda: class_spectra(ev, max_per_class=cap, progress=progress))


@st.cache_data(max_entries=16, show_spinner="Running the edited copies through the model…")
def dof_sweep(_mdl: Model, model_sha: str, _photo: Photo, image_sha: str, kind: str) -> list:
    """:func:`facefake_core.analysis.sweep` of one photo (each point's ``heatmap`` dropped: map ``raw_cam`` to draw)."""
    from facefake_core.analysis import sweep

    return [dataclasses.replace(p, explanation=dataclasses.replace(p.explanation, heatmap=None))
            for p in sweep(_mdl, _photo, kind)]


@st.cache_data(max_entries=64, show_spinner=False)
def focus_measures(_pixels: np.ndarray, image_sha: str) -> FocusMeasures:
    """A photo's focus measures with the block map :func:`facefake_core.imaging.focus_overlay` draws: as an
    evaluation stored them (under the current focus rule), or measured now for a photo no evaluation has seen (an
    upload). ``image_sha`` is the hash of the file's bytes, as the store keys them."""
    return stored_focus(store(), [image_sha]).get(image_sha) or measure_focus(_pixels)


@st.cache_data(max_entries=64, show_spinner=False)
def dof_image_spectra(_pixels: np.ndarray, image_sha: str, face_box: tuple[int, ...] | None) -> dict:
    """Radial spectra of one photo's regions (:func:`facefake_core.analysis.image_spectra`)."""
    from facefake_core.analysis import image_spectra

    return image_spectra(_pixels, face_box)


# -- the feature space (views/embedding_map.py, and the neighbours on the Hard set page) ----------------------
# Keyed by the Evaluation object itself (each evaluation run makes a new one, and features may have been filled in
# by it), so a set evaluated again is read again; the maps themselves are also cached in the core's store.
@st.cache_resource(show_spinner=False)
def _space() -> Registry:
    return Registry(size=32)


def evaluated_sets(model_sha: str) -> list[tuple[str, Evaluation]]:
    """``(source, evaluation)`` of every set this server has evaluated with the model, most recent last."""
    return [(key[1], ev) for key, ev in _evaluations().items() if key[0] == model_sha]


def set_features(ev: Evaluation):
    """The set's stored feature vectors (:func:`facefake_core.analysis.set_features`), read once per evaluation."""
    from facefake_core.analysis import set_features as read

    return _space().compute(("features", id(ev), ev.source), lambda: read(ev, store(), ev.source))


def embedding_map(ev: Evaluation, method: str, seed: int, run: bool = True):
    """The set's 2-D map (:func:`facefake_core.analysis.embedding_map`, cached in the store too); with
    ``run=False``, only one this server already holds (else ``None``). Raises ``EmbeddingError``."""
    from facefake_core.analysis import embedding_map as make

    key = ("map", id(ev), ev.source, method, seed)
    if not run:
        return _space().get(key)
    return _space().compute(key, lambda: make(ev, store(), method, seed=seed, name=ev.source))


@st.cache_resource(show_spinner=False)
def umap_warm_up() -> threading.Thread:
    """Compile UMAP's numba code in a background thread, once per server process (tens of seconds of CPU), so a
    visitor who switches the Map page from PCA to UMAP waits for the projection only."""
    from facefake_core.analysis.embedding import warm_up_umap

    thread = threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def near_duplicates(evs: list[Evaluation], threshold: float, hamming: int | None = None) -> list:
    """Near-duplicate pairs within and across these sets (:func:`facefake_core.analysis.near_duplicates`, by the
    images' perceptual hashes, computed once per image and stored), found once per combination of evaluations and
    thresholds (the search is quadratic: docs/embedding-map.md)."""
    from facefake_core.analysis import image_hashes, near_duplicates as find

    def run() -> list:
        pools = [set_features(e) for e in evs]
        return find(pools, threshold, image_hashes(pools, store()), hamming)

    key = ("duplicates", threshold, hamming, *((id(e), e.source) for e in evs))
    return _space().compute(key, run)


def hash_bits(image_sha: str, path: str, others: dict[str, str]) -> dict[str, int]:
    """Perceptual-hash distance (bits) from one image to each of ``others`` (image sha -> path), by image sha; an
    image whose file cannot be read is left out. Hashes are computed once per image and stored."""
    from facefake_core.analysis import image_hashes
    from facefake_core.imaging.perceptual import hash_distance

    hashes = image_hashes({image_sha: path, **others}, store())
    if image_sha not in hashes:
        return {}
    return {sha: hash_distance(hashes[image_sha], hashes[sha]) for sha in others if sha in hashes}


def neighbours_of(ev: Evaluation, path: str, k: int, with_store: bool = False) -> list:
    """The ``k`` nearest images to the set's image ``path``, in this set and in every other set this server has
    evaluated with the same model (:func:`facefake_core.analysis.neighbours`); with ``with_store``, also among every
    other image the store holds features for under the model (sets evaluated from the CLI, set ``"stored"``). ``[]``
    without stored features."""
    from facefake_core.analysis import neighbours, stored_features

    evs = [e for _, e in evaluated_sets(ev.model_sha) if e is not ev]
    pools = [set_features(e) for e in evs] + [set_features(ev)]
    if with_store:  # read once per state of the store's results for the model, and per set of evaluations
        key = ("stored", ev.model_sha, store().count_results(ev.model_sha), *((id(e), e.source) for e in [*evs, ev]))
        skip = {p for e in [*evs, ev] for p in e.column("path")}
        pools.insert(0, _space().compute(key, lambda: stored_features(store(), ev.model_sha, ev.vocab, skip)))
    own = pools[-1]
    i = own.index_of(path)
    if i is None:
        return []
    return neighbours(own.vectors[i], pools[::-1], k, exclude=(own.name, path))
