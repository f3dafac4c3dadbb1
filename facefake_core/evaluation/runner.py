"""Evaluating a labelled hard set: batched, stored, resumable.

Each image is hashed; results already in the store for this model's sha256 are reused, so a second run does no
model work and a killed run resumes where it stopped. Focus measures depend on the image alone: they are
stored under its sha256 and reused by every model evaluated on the set. The rest goes through the model in
batches (:mod:`.lanes`). On the CPU, batches run in parallel lanes, each decoding its own images and then running them
single-threaded, so that no core is oversubscribed; on an accelerator, worker threads decode the next batch
while the model works. Each batch yields probabilities, the CAM grid and the feature vector (the input of the
head's final Linear) from one pass (see :mod:`facefake_core.model.cam`) and is written to the store in one
transaction by the calling thread. An unreadable file becomes an error row and never stops the run.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from ..config import CONFIG
from ..errors import ImageLoadError
from ..imaging.focus import FOCUS_VERSION, FocusMeasures, cam_in_bokeh, measure_focus
from ..imaging.geometry import map_to_photo
from ..imaging.photo import decode, read_bytes
from ..model import Model, SplitModel, default_batch_size, forward_features, head_split, predict_and_cam
from ..progress import Progress
from .calibration import BestThreshold, Calibration, best_threshold, calibration
from .hardset import HardSet, Item, check_duplicates, discover
from .lanes import Batch, batches_of, cpu_lanes, decode_workers, in_lanes, pipelined
from .metrics import Metrics, compute, positive_class
from .store import Store, StoredResult


@dataclass(frozen=True)
class Row:
    """One image of an evaluated set. ``error`` is set (and the rest empty) when the file was unreadable.

    Attributes:
        cam: float32 ``(h, w)`` raw CAM grid of the predicted class on the target layer, or ``None``.
        focus: the photo's depth-of-field measures (without the block map), or ``None``.
        bokeh_share, face_share: shares of the CAM's mass on defocused blocks and on the face box
            (:func:`~facefake_core.imaging.focus.cam_in_bokeh`), or ``None`` without CAM or focus measures.
    """

    path: str
    label: str
    style: str = ""
    image_sha: str = ""
    probs: dict[str, float] = field(default_factory=dict)
    cam: np.ndarray | None = field(default=None, repr=False)
    focus: FocusMeasures | None = None
    error: str | None = None
    bokeh_share: float | None = None
    face_share: float | None = None
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def from_stored(cls, item: Item, image_sha: str, s: StoredResult) -> "Row":
        """A set item's row from the store's record (whose focus dict holds the measures and the CAM's shares)."""
        f = s.focus or {}
        return cls(item.path, item.label, item.style, image_sha, s.probs, s.cam,
                   FocusMeasures.from_dict(f) if f else None, bokeh_share=f.get("bokeh_share"),
                   face_share=f.get("face_share"), meta=item.meta)

    def focus_dict(self) -> dict | None:
        """The focus measures and the CAM's shares as one JSON-safe dict (what ``--json`` prints), or ``None``."""
        if self.focus is None:
            return None
        shares = {"bokeh_share": self.bokeh_share, "face_share": self.face_share}
        return {**self.focus.to_dict(), **{k: v for k, v in shares.items() if v is not None}}

    @property
    def pred(self) -> str:
        return max(self.probs, key=self.probs.get) if self.probs else ""

    @property
    def loss(self) -> float:
        """Cross-entropy of the true class: how wrong the model was."""
        return -math.log(max(self.probs.get(self.label, 0.0), 1e-12))

    def to_dict(self) -> dict:
        if self.error:
            return {"path": self.path, "error": self.error}
        d = {"path": self.path, "label": self.label, "pred": self.pred, "probs": self.probs}
        if self.style:
            d["style"] = self.style
        if self.focus is not None:
            d["focus"] = self.focus_dict()
        return d


@dataclass(frozen=True)
class Evaluation:
    """A model's results on a hard set; metrics at any threshold come from :meth:`metrics`."""

    model_sha: str
    vocab: tuple[str, ...]
    source: str
    rows: tuple[Row, ...]
    errors: tuple[Row, ...]
    computed: int
    reused: int

    @property
    def positive(self) -> str:
        return positive_class(self.vocab)

    def p_pos(self) -> np.ndarray:
        return np.array([r.probs[self.positive] for r in self.rows], float)

    def metrics(self, threshold: float = CONFIG.threshold) -> Metrics:
        return compute([r.label for r in self.rows], self.p_pos(), self.vocab, threshold)

    def y(self) -> np.ndarray:
        """1 for each row of the positive class (fake), else 0, in row order."""
        return np.array([r.label == self.positive for r in self.rows], int)

    def calibration(self) -> Calibration:
        return calibration(self.y(), self.p_pos())

    def best_threshold(self, near: float = CONFIG.threshold) -> BestThreshold:
        negative = next(v for v in self.vocab if v != self.positive)
        return best_threshold(self.y(), self.p_pos(), self.positive, negative, near)

    def to_dict(self, threshold: float = CONFIG.threshold) -> dict:
        return {**self.metrics(threshold).to_dict(), "calibration": self.calibration().to_dict(),
                "best_threshold": self.best_threshold(threshold).to_dict(), "computed": self.computed,
                "reused": self.reused, "rows": [r.to_dict() for r in self.rows],
                "errors": [r.to_dict() for r in self.errors]}


def _hash_items(items: Sequence[Item], store: Store, pool: ThreadPoolExecutor) -> tuple[dict[str, str], dict[str, str]]:
    """path -> sha256 for readable files, path -> error for the rest; known hashes come from the store."""
    import hashlib

    stats: dict[str, tuple[int, int]] = {}
    errors: dict[str, str] = {}
    for it in items:
        try:
            st = os.stat(it.path)
            stats[it.path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass  # read_bytes below words the error
    known = store.get_hashes(stats)

    def one(path: str) -> tuple[str, str | None, str | None]:
        try:
            return path, hashlib.sha256(read_bytes(path)).hexdigest(), None
        except ImageLoadError as err:
            return path, None, str(err)

    fresh = []
    for path, sha, err in pool.map(one, [it.path for it in items if it.path not in known]):
        if err:
            errors[path] = err
        else:
            known[path] = sha
            fresh.append((path, *stats[path], sha))
    store.put_hashes(fresh)
    return known, errors


def _prepare(model: Model, path: str, with_focus: bool, known=None):
    """Per-image CPU work: decode, preprocess, focus measures (unless ``known``). Returns (photo shape, item tensor,
    focus) or an error."""
    try:
        pixels, _ = decode(read_bytes(path), os.path.basename(path))
    except ImageLoadError as err:
        return None, str(err)
    focus = known if known is not None else measure_focus(pixels) if with_focus else None
    return (pixels.shape[:2], model.prep.item(pixels), focus), None


def _known_focus(store: Store, shas: Sequence[str]) -> dict:
    """Focus measures already stored for these images under the current rule, as FocusMeasures."""
    return {h: FocusMeasures.from_dict(d, bm) for h, (d, bm) in store.get_focus(shas, FOCUS_VERSION).items()}


def _focus_dict(state, raw: np.ndarray | None, box, hw) -> dict | None:
    if state is None:
        return None
    d = state.to_dict()
    if raw is not None:
        d.update(cam_in_bokeh(map_to_photo(raw, box, hw), state))
    return d


def _fill_focus(model: Model, store: Store, todo: list[tuple[str, str, StoredResult]], known: dict,
                pool: ThreadPoolExecutor, progress: Progress | None, chunk: int = 64) -> dict[str, StoredResult]:
    """Focus measures for rows already stored without them (evaluated with ``with_focus=False``, under an older focus
    rule, or deferred on an accelerator): decoding and the measures only, no model work. The CAM's shares come from
    each row's stored CAM grid. Returns the updated results; the row of a file that cannot be decoded any more keeps
    its model results and shows no focus measures (the stored row is left as it was)."""

    def one(item: tuple[str, str, StoredResult]):
        path, h, s = item
        m = known.get(h)
        if m is None:
            try:
                m = measure_focus(decode(read_bytes(path), os.path.basename(path))[0])
            except ImageLoadError:
                return h, None, replace(s, focus=None)
        hw = tuple(m.image_shape)
        measures = _focus_dict(m, s.cam, model.prep.crop_box(hw[1], hw[0]), hw)  # with the CAM's shares
        return h, m, replace(s, focus=measures)

    out: dict[str, StoredResult] = {}
    if progress:
        progress(0, len(todo), "focus measures")
    for i in range(0, len(todo), chunk):
        done = list(pool.map(one, todo[i: i + chunk]))
        store.put_result_focus(model.info.sha256, [(h, s.focus) for h, m, s in done if m is not None])
        fresh = [(h, m.to_dict(), m.block_map) for h, m, _ in done if m is not None and h not in known]
        if fresh:
            store.put_focus(FOCUS_VERSION, fresh)
        out.update({h: s for h, _, s in done})
        if progress:
            progress(min(i + chunk, len(todo)), len(todo), "focus measures")
    return out


def _run_batch(model: Model, split: SplitModel | None, batch: Batch, prepared: list) -> tuple[list, dict, list, list]:
    """Model work for one batch of prepared images: store rows ``(sha, probs, cam, layer, focus dict)``, errors by
    path, ``(sha, FocusMeasures)`` of each image that has them, and ``(sha, feature vector)`` from the same pass."""
    errors, ready = {}, []
    for (path, h), (prep, err) in zip(batch, prepared):
        if err:
            errors[path] = err
        else:
            ready.append((h, *prep))
    if not ready:
        return [], errors, [], []
    x = model.batch([r[2] for r in ready])
    if split is not None:
        res = predict_and_cam(split, x)
        probs, raws, feats = res.probs, res.raw_cam, res.features
    else:
        (probs, feats), raws = forward_features(model.net, x), [None] * len(ready)
    rows = []
    for (h, hw, _, focus), p, raw in zip(ready, probs, raws):
        box = model.prep.crop_box(hw[1], hw[0])
        rows.append((h, {v: float(q) for v, q in zip(model.vocab, p)}, raw,
                     model.info.target_layer if raw is not None else None, _focus_dict(focus, raw, box, hw)))
    features = [] if feats is None else [(r[0], f) for r, f in zip(ready, feats)]
    return rows, errors, [(h, focus) for h, _, _, focus in ready if focus is not None], features


def _run_features(model: Model, batch: Batch, prepared: list) -> tuple[list, dict]:
    """Only the forward pass, for rows stored without features: ``(sha, feature vector)`` rows and errors by path."""
    errors = {path: err for (path, _), (_, err) in zip(batch, prepared) if err}
    ready = [(h, prep) for (_, h), (prep, err) in zip(batch, prepared) if not err]
    if not ready:
        return [], errors
    _, feats = forward_features(model.net, model.batch([prep[1] for _, prep in ready]))
    return ([] if feats is None else [(h, f) for (h, _), f in zip(ready, feats)]), errors


def _fill_features(model: Model, store: Store, todo: list[tuple[str, str]], batch_size: int, pool: ThreadPoolExecutor,
                   progress: Progress | None) -> None:
    """Store the feature vectors of already-evaluated images that lack them (rows from before features were stored),
    with one forward pass each and nothing else: no CAM, no focus measures, the stored rows untouched."""
    if progress:
        progress(0, len(todo), "filling features")
    lanes, threads = cpu_lanes() if model.device.type == "cpu" else (1, 0)

    def run(batch: Batch, prepared: list):
        return _run_features(model, batch, prepared)

    def prepare(path: str, h: str):
        return _prepare(model, path, False)

    batches = batches_of(todo, batch_size)
    stream = in_lanes(run, batches, prepare, lanes, threads) if lanes > 1 else pipelined(run, batches, prepare, pool)
    done = 0
    with closing(stream):
        for batch, (feats, _) in stream:  # an unreadable file keeps its stored row; it just has no features
            store.put_features(model.info.sha256, feats)
            done += len(batch)
            if progress:
                progress(done, len(todo), "filling features")


def evaluate(model: Model, source: str | os.PathLike | HardSet, *, store: Store | None = None,
             batch_size: int | None = None, progress: Progress | None = None, with_cam: bool = True,
             with_focus: bool = True, workers: int | None = None, lanes: int | None = None,
             defer_focus: bool | None = None) -> Evaluation:
    """Evaluate ``model`` on a hard set, reusing and filling the store.

    Each new row is stored with its feature vector from the same pass. Rows already stored without one (from before
    features were stored) get it from a forward pass of their own, with nothing else recomputed.

    Args:
        model: a loaded model.
        source: a folder of class subfolders, a CSV manifest, or a :class:`HardSet`.
        store: results store; ``None`` opens the default one.
        batch_size: images per forward pass (default: :func:`~facefake_core.model.default_batch_size`).
        progress: called as ``progress(done, total, what)``.
        with_cam: store the target layer's GradCAM grid of the predicted class with each row.
        with_focus: store focus / depth-of-field measures with each row. Rows stored without them (a first pass
            with ``with_focus=False``) or under an older focus rule get them with no model work: decoding and the
            measures only, the CAM's shares from the stored CAM grid.
        workers: hashing threads, and decoding threads beside a single model thread (default:
            :func:`decode_workers`). On a CPU with more than one torch thread, images are decoded inside the
            model's lanes instead (:func:`cpu_lanes`).
        lanes: on the CPU, batches run in parallel (default: :func:`cpu_lanes`); 1 runs one model thread on all
            of torch's threads, fed by the decoding threads.
        defer_focus: measure focus after the model rows are stored instead of while decoding for the model
            (default: on accelerators, so that the measures never stall the model; on the CPU they run in the lanes,
            on the photo already decoded).

    Raises:
        HardSetError: the set's layout cannot be evaluated (before any model work).
    """
    hs = source if isinstance(source, HardSet) else discover(source, model.vocab)
    store = store or Store()
    sha = model.info.sha256
    batch_size = batch_size or default_batch_size(model.device)
    with ThreadPoolExecutor(max_workers=workers or decode_workers()) as pool:
        hashes, read_errors = _hash_items(hs.items, store, pool)
        check_duplicates(hashes, hs.items)
        stored = store.get_results(sha, list(hashes.values()))
        # Rows whose focus measures are missing or from an older rule get them after the model work, without any.
        refocus = [h for h, r in stored.items() if (r.focus or {}).get("focus_version") != FOCUS_VERSION] \
            if with_focus else []
        todo = list({h: p for p, h in hashes.items() if h not in stored}.items())  # each new content once
        todo = [(p, h) for h, p in todo]
        decode_errors: dict[str, str] = {}
        total, done = len(todo), 0
        if progress:
            progress(0, total, "evaluating")
        split = model.split() if with_cam else None
        batches = batches_of(todo, batch_size)
        lanes, threads = cpu_lanes(lanes=lanes) if model.device.type == "cpu" else (1, 0)
        # On the CPU the measures run in the lanes, on the decoded photo; on an accelerator they come after the model
        # rows are stored, so that they never stall the model.
        inline = with_focus and model.device.type == "cpu" if defer_focus is None else with_focus and not defer_focus
        known = _known_focus(store, [h for _, h in todo] + refocus) if with_focus else {}  # from another model

        def prepare(path: str, h: str):
            return _prepare(model, path, inline, known.get(h) if inline else None)

        def run(batch: Batch, prepared: list):
            return _run_batch(model, split, batch, prepared)

        stream = (in_lanes(run, batches, prepare, lanes, threads) if lanes > 1
                  else pipelined(run, batches, prepare, pool))
        with closing(stream):  # a caller that stops (an exception from progress) stops the lanes at once
            for batch, (new, errors, states, feats) in stream:
                decode_errors.update(errors)
                if new:
                    store.put_results(sha, new, feats)
                fresh = [(h, st.to_dict(), st.block_map) for h, st in states if h not in known]
                if fresh:
                    store.put_focus(FOCUS_VERSION, fresh)
                stored.update({n[0]: StoredResult(n[1], n[2], n[3], n[4]) for n in new})
                done += len(batch)
                if progress:
                    progress(done, total, "evaluating")
        if with_focus and not inline:
            refocus += [h for _, h in todo if h in stored]
        if refocus:
            path_of = {h: p for p, h in hashes.items()}
            stored.update(_fill_focus(model, store, [(path_of[h], h, stored[h]) for h in refocus], known, pool,
                                      progress))
        fresh = {h for _, h in todo}
        lacking = [h for h in stored if h not in fresh] if head_split(model.net) is not None else []
        lacking = sorted(set(lacking) - set(store.get_features(sha, lacking)))
        if lacking:
            path_of = {h: p for p, h in hashes.items()}
            _fill_features(model, store, [(path_of[h], h) for h in lacking], batch_size, pool, progress)
    rows, errors = [], []
    for it in hs.items:
        err = read_errors.get(it.path) or decode_errors.get(it.path)
        h = hashes.get(it.path)
        if err or h not in stored:
            errors.append(Row(it.path, it.label, it.style, h or "", meta=it.meta,
                              error=err or f"{os.path.basename(it.path)}: unreadable"))
            continue
        rows.append(Row.from_stored(it, h, stored[h]))
    return Evaluation(sha, model.vocab, hs.source, tuple(rows), tuple(errors), computed=total - len(decode_errors),
                      reused=len(rows) - (total - len(decode_errors)))
