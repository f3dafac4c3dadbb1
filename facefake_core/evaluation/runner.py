"""Evaluating a labelled hard set: batched, stored, resumable.

Each image is hashed; results already in the store for this model's sha256 are reused, so a second run does no
model work and a killed run resumes where it stopped. Focus measures depend on the image alone: they are
stored under its sha256 and reused by every model evaluated on the set. The rest goes through the model in
batches (:mod:`.lanes`). On the CPU, batches run in parallel lanes, each decoding its own images and then running them
single-threaded, so that no core is oversubscribed; on an accelerator, worker threads decode the next batch
while the model works. Each batch yields probabilities, the CAM grid of every class and the feature vector (the
input of the head's final Linear) from one pass (see :mod:`facefake_core.model.cam`) and is written to the store in one
transaction by the calling thread. An unreadable file becomes an error row and never stops the run.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EngineError, ImageLoadError
from ..imaging.focus import FOCUS_VERSION, FocusMeasures, measure_focus
from ..imaging.shares import cam_shares
from ..imaging.photo import decode, read_bytes
from ..model import Model, SplitModel, default_batch_size, forward_features, head_split, predict_and_cam
from ..progress import Progress
from .hardset import HardSet, Item, check_duplicates, discover
from .headers import header_columns
from .lanes import Batch, batches_of, cpu_lanes, decode_workers, in_lanes, pipelined
from .rows import Evaluation, Row
from . import snapshot
from .snapshot import Stat
from .table import LazyRows, RowColumns
from .store import Store, StoredResult



def _hash_items(items: Sequence[Item], store: Store, pool: ThreadPoolExecutor
                ) -> tuple[dict[str, str], dict[str, str], dict[str, Stat]]:
    """path -> sha256 for readable files, path -> error for the rest, and path -> :func:`~.snapshot.file_stat`
    taken before the file was hashed; known hashes come from the store."""
    import hashlib

    full: dict[str, Stat] = {}
    errors: dict[str, str] = {}
    for it in items:
        try:
            full[it.path] = snapshot.file_stat(it.path)
        except OSError:
            pass  # read_bytes below words the error
    stats = {p: st[:2] for p, st in full.items()}  # (size, mtime_ns): what the store's hash cache trusts
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
    return known, errors, full


def _prepare(model: Model, path: str, with_focus: bool, known=None):
    """Per-image CPU work: decode, preprocess, focus measures (unless ``known``). Returns (photo shape, item tensor,
    focus) or an error."""
    try:
        pixels, _ = decode(read_bytes(path), os.path.basename(path))
    except ImageLoadError as err:
        return None, str(err)
    focus = known if known is not None else measure_focus(pixels) if with_focus else None
    return (pixels.shape[:2], model.prep.item(pixels), focus), None


def stored_focus(store: Store, shas: Sequence[str]) -> dict[str, FocusMeasures]:
    """Focus measures (with their block maps) already stored for these images under the current rule, by hash."""
    return {h: FocusMeasures.from_dict(d, bm) for h, (d, bm) in store.get_focus(shas, FOCUS_VERSION).items()}


def _focus_dict(state, raw: np.ndarray | None, box) -> dict | None:
    """A row's focus dict: the measures and, with a CAM grid, its shares on the defocused blocks and the face."""
    if state is None:
        return None
    d = state.to_dict()
    if raw is not None:
        d.update(cam_shares(raw, box, state))
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
                return h, None, dataclasses.replace(s, focus=None)
        hw = tuple(m.image_shape)
        measures = _focus_dict(m, s.cam, model.prep.crop_box(hw[1], hw[0]))  # with the CAM's shares
        return h, m, dataclasses.replace(s, focus=measures)

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


def _ready(batch: Batch, prepared: list) -> tuple[list, dict]:
    """``(sha, prepared)`` of each image of a batch that decoded, and the errors of the rest by path."""
    errors = {path: err for (path, _), (_, err) in zip(batch, prepared) if err}
    return [(h, prep) for (_, h), (prep, err) in zip(batch, prepared) if not err], errors


def _run_batch(model: Model, split: SplitModel | None, batch: Batch, prepared: list) -> tuple[list, dict, list, list]:
    """Model work for one batch of prepared images: store rows ``(sha, probs, cam, layer, focus dict, class cams)``
    (``cam`` explains the predicted class, the ``(n_classes, h, w)`` class cams each class in vocab order), errors by
    path, ``(sha, FocusMeasures)`` of each image that has them, and ``(sha, feature vector)`` from the same pass."""
    ok, errors = _ready(batch, prepared)
    ready = [(h, *prep) for h, prep in ok]
    if not ready:
        return [], errors, [], []
    x = model.batch([r[2] for r in ready])
    if split is not None:
        res = predict_and_cam(split, x, every_class=True)
        probs, raws, feats, per_class = res.probs, res.raw_cam, res.features, res.class_cams
    else:
        (probs, feats), raws = forward_features(model.net, x), [None] * len(ready)
        per_class = raws
    rows = []
    for (h, hw, _, focus), p, raw, cams in zip(ready, probs, raws, per_class):
        box = model.prep.crop_box(hw[1], hw[0])
        rows.append((h, {v: float(q) for v, q in zip(model.vocab, p)}, raw,
                     model.info.target_layer if raw is not None else None, _focus_dict(focus, raw, box), cams))
    features = [] if feats is None else [(r[0], f) for r, f in zip(ready, feats)]
    return rows, errors, [(h, focus) for h, _, _, focus in ready if focus is not None], features


def _run_features(model: Model, batch: Batch, prepared: list) -> tuple[list, dict]:
    """Only the forward pass, for rows stored without features: ``(sha, feature vector)`` rows and errors by path."""
    ready, errors = _ready(batch, prepared)
    if not ready:
        return [], errors
    _, feats = forward_features(model.net, model.batch([prep[1] for _, prep in ready]))
    return ([] if feats is None else [(h, f) for (h, _), f in zip(ready, feats)]), errors


def _run_class_cams(model: Model, split: SplitModel, batch: Batch, prepared: list) -> tuple[list, dict]:
    """Only the CAMs, for rows stored without every class's: ``(sha, (n_classes, h, w) class cams, feature vector or
    None)`` rows and errors by path."""
    ready, errors = _ready(batch, prepared)
    if not ready:
        return [], errors
    res = predict_and_cam(split, model.batch([prep[1] for _, prep in ready]), every_class=True)
    feats = [None] * len(ready) if res.features is None else res.features
    return [(h, cams, f) for (h, _), cams, f in zip(ready, res.class_cams, feats)], errors


def _fill(model: Model, todo: list[tuple[str, str]], batch_size: int, pool: ThreadPoolExecutor,
          progress: Progress | None, what: str, run, write) -> None:
    """Run ``run(batch, prepared)`` over already-evaluated images (decoded, not focus-measured) and hand each
    batch's output to ``write`` (on this thread): filling in what rows stored by older versions lack."""
    if progress:
        progress(0, len(todo), what)
    lanes, threads = cpu_lanes() if model.device.type == "cpu" else (1, 0)

    def prepare(path: str, h: str):
        return _prepare(model, path, False)

    batches = batches_of(todo, batch_size)
    stream = in_lanes(run, batches, prepare, lanes, threads) if lanes > 1 else pipelined(run, batches, prepare, pool)
    done = 0
    with closing(stream):
        for batch, (out, _) in stream:  # an unreadable file keeps its stored row; it just gets nothing new
            write(out)
            done += len(batch)
            if progress:
                progress(done, len(todo), what)


def evaluate(model: Model, source: str | os.PathLike | HardSet, *, store: Store | None = None,
             batch_size: int | None = None, progress: Progress | None = None, with_cam: bool = True,
             with_focus: bool = True, workers: int | None = None, lanes: int | None = None,
             defer_focus: bool | None = None, engine: str = "local", address: str | None = None) -> Evaluation:
    """Evaluate ``model`` on a hard set, reusing and filling the store.

    Each new row is stored with its feature vector and every class's CAM from the same pass. Rows already stored
    without every class's CAM (from before they were stored) get them, and their feature vector, from a CAM pass of
    their own; rows without a feature vector get it from a forward pass of their own; nothing else is recomputed.

    Args:
        model: a loaded model.
        source: a folder of class subfolders, a CSV manifest, or a :class:`HardSet`.
        store: results store; ``None`` opens the default one.
        batch_size: images per forward pass (default: :func:`~facefake_core.model.default_batch_size`).
        progress: called as ``progress(done, total, what)``.
        with_cam: store the target layer's GradCAM grid of every class with each row (and fill in those of rows
            stored without them).
        with_focus: store focus / depth-of-field measures with each row. Rows stored without them (a first pass
            with ``with_focus=False``) or under an older focus rule get them with no model work: decoding and the
            measures only, the CAM's shares from the stored CAM grid.
        workers: hashing threads, and decoding threads beside a single model thread (default:
            :func:`decode_workers`). On a CPU with more than one torch thread, images are decoded inside the
            model's lanes instead (:func:`cpu_lanes`).
        lanes: on the CPU, batches run in parallel (default: :func:`cpu_lanes`); 1 runs one model thread on all
            of torch's threads, fed by the decoding threads.
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray cluster, :mod:`.ray_engine`): the same rows, and
            either way only this process writes the store.
        address: with ``engine="ray"``, the cluster (``HOST:6379``); ``None`` uses ``$RAY_ADDRESS`` or a new
            local Ray instance.
        defer_focus: measure focus after the model rows are stored instead of while decoding for the model
            (default: on accelerators, so that the measures never stall the model; on the CPU they run in the lanes,
            on the photo already decoded).

    Returns:
        The :class:`Evaluation`; its ``rows`` are a :class:`~.table.LazyRows` (columns in memory, full rows read from
        the store when asked for). A set evaluated before, with nothing changed since, is read back from its columnar
        copy (:mod:`.snapshot`) with one ``stat`` per file; an evaluation that leaves nothing to do writes one.

    Raises:
        HardSetError: the set's layout cannot be evaluated (before any model work).
        EngineError: an unknown engine, or Ray missing or unreachable.
    """
    if engine not in ("local", "ray"):
        raise EngineError(f"unknown engine {engine!r}; use local or ray")
    if engine == "ray":  # before any work: Ray missing or a cluster out of reach is a one-line error
        from .ray_engine import connect

        connect(address)
    store = store or Store()
    sha = model.info.sha256
    key = None if isinstance(source, HardSet) else os.path.abspath(Path(source).expanduser())
    manifest = snapshot.source_stat(key) if key else None  # before the manifest is read
    copied = snapshot.load(store, sha, key, model.vocab) if key else None
    if copied is not None:  # nothing changed since an evaluation that left nothing to do: its columns
        if progress:
            progress(0, 0, "evaluating")
        return Evaluation(sha, model.vocab, str(Path(source).expanduser()), _lazy(model, store, copied, {}), (),
                          computed=0, reused=len(copied), engine=engine)
    hs = source if isinstance(source, HardSet) else discover(source, model.vocab)
    batch_size = batch_size or default_batch_size(model.device)
    with ThreadPoolExecutor(max_workers=workers or decode_workers()) as pool:
        hashes, read_errors, stats = _hash_items(hs.items, store, pool)
        check_duplicates(hashes, hs.items)
        cols = store.result_columns(sha, list(hashes.values()))  # what the store holds, without CAMs or focus dicts
        have = set(cols["image_sha"])
        # Rows whose focus measures are missing or from an older rule get them after the model work, without any.
        refocus = [h for h, v in zip(cols["image_sha"], cols["focus_version"]) if v != FOCUS_VERSION] \
            if with_focus else []
        stored: dict[str, StoredResult] = {}  # full records of the rows this run works on: new ones, ones refocused
        todo = list({h: p for p, h in hashes.items() if h not in have}.items())  # each new content once
        todo = [(p, h) for h, p in todo]
        decode_errors: dict[str, str] = {}
        total, done = len(todo), 0
        if progress:
            progress(0, total, "evaluating")
        split = model.split() if with_cam else None
        batches = batches_of(todo, batch_size)
        lanes, threads = cpu_lanes(lanes=lanes) if model.device.type == "cpu" else (1, 0)
        # On the CPU the measures run in the lanes, on the decoded photo; on an accelerator they come after the model
        # rows are stored, so that they never stall the model. Ray measures them in its CPU tasks, apart from the
        # model's actors, so there they are always inline.
        inline = with_focus and (engine == "ray" or model.device.type == "cpu" if defer_focus is None
                                 else not defer_focus)
        known = stored_focus(store, [h for _, h in todo] + refocus) if with_focus else {}  # from another model

        def prepare(path: str, h: str):
            return _prepare(model, path, inline, known.get(h) if inline else None)

        def run(batch: Batch, prepared: list):
            return _run_batch(model, split, batch, prepared)

        if engine == "ray":  # the same (batch, result) stream, computed on Ray; the loop below stores it
            from .ray_engine import stream as ray_stream

            stream = ray_stream(model, todo, known, prepare=_prepare, run_batch=_run_batch, batch_size=batch_size,
                                with_cam=with_cam, with_focus=inline, address=address)
        else:
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
                stored.update({n[0]: StoredResult(*n[1:]) for n in new})
                done += len(batch)
                if progress:
                    progress(done, total, "evaluating")
        if with_focus and not inline:
            refocus += [h for _, h in todo if h in stored]
        path_of = {h: p for p, h in hashes.items()}
        if refocus:
            stored.update(store.get_results(sha, [h for h in refocus if h not in stored]))
            stored.update(_fill_focus(model, store, [(path_of[h], h, stored[h]) for h in refocus], known, pool,
                                      progress))
        no_cams = sorted(h for h, c in zip(cols["image_sha"], cols["class_cams"]) if not c) if with_cam else []
        if no_cams:
            def write_cams(out: list) -> None:
                store.put_class_cams(sha, [(h, cams) for h, cams, _ in out])
                store.put_features(sha, [(h, f) for h, _, f in out if f is not None])
                stored.update({h: dataclasses.replace(stored[h], class_cams=cams) for h, cams, _ in out if h in stored})

            _fill(model, [(path_of[h], h) for h in no_cams], batch_size, pool, progress, "filling every class's CAM",
                  lambda b, p: _run_class_cams(model, split, b, p), write_cams)
        lacking = sorted(h for h, f in zip(cols["image_sha"], cols["features"]) if not f) \
            if head_split(model.net) is not None else []
        if lacking:
            _fill(model, [(path_of[h], h) for h in lacking], batch_size, pool, progress, "filling features",
                  lambda b, p: _run_features(model, b, p), lambda feats: store.put_features(sha, feats))
        if todo or refocus or no_cams or lacking:  # the store's columns again, with what this run wrote
            cols = store.result_columns(sha, list(hashes.values()))
    rows, errors = _rows(model, store, hs, hashes, cols, stored, {**read_errors, **decode_errors})
    done = not errors and all(cols["class_cams"]) and all(cols["features"]) \
        and all(v == FOCUS_VERSION for v in cols["focus_version"])
    ev = Evaluation(sha, model.vocab, hs.source, rows, tuple(errors), computed=total - len(decode_errors),
                    reused=len(rows) - (total - len(decode_errors)), engine=engine)
    if key and done:  # nothing left to do: the next open of this set reads these columns back (snapshot.py)
        snapshot.save(store, sha, key, cols["generation"], rows.columns, [stats[p] for p in rows.columns.paths],
                      manifest)
        header_columns(ev, store, progress)  # and the slice table's header columns, stored under the images' hashes
    return ev


def _rows(model: Model, store: Store, hs: HardSet, hashes: dict[str, str], cols: dict, held: dict[str, StoredResult],
          errors: dict[str, str]) -> tuple[LazyRows, list[Row]]:
    """The set's rows, as columns read from the store (:class:`LazyRows`), and the error rows of files that could not
    be read or decoded, or whose row the store does not hold. ``held``: the records this run computed or changed,
    kept as they are (a refocused file that cannot be decoded any more shows no focus measures, while the store keeps
    its old ones); the rows it reused are read from the store when asked for."""
    at = {h: i for i, h in enumerate(cols["image_sha"])}
    good, idx, bad = [], [], []
    for it in hs.items:
        h = hashes.get(it.path)
        i = at.get(h) if it.path not in errors else None
        if i is None:
            bad.append(Row(it.path, it.label, it.style, h or "", meta=it.meta,
                           error=errors.get(it.path) or f"{os.path.basename(it.path)}: unreadable"))
        else:
            good.append(it)
            idx.append(i)
    vocab, probs = tuple(model.vocab), cols["probs"]
    p = np.array([[probs[i][c] for c in vocab] for i in idx], float).reshape(len(idx), len(vocab))
    narrow = np.array([-1 if v is None else int(v) for v in cols["narrow_dof"]], np.int8)
    shas = [cols["image_sha"][i] for i in idx]
    gone = [at[h] for h, r in held.items() if h in at and not r.focus]  # no focus measures here, whatever is stored
    narrow[gone] = -1
    table = RowColumns.of(good, shas, vocab, p, narrow[np.asarray(idx, np.intp)])
    return _lazy(model, store, table, held), bad


def _lazy(model: Model, store: Store, table: RowColumns, held: dict[str, StoredResult]) -> LazyRows:
    """Rows read from the store when asked for, but those of ``held``, as this run holds them."""
    sha = model.info.sha256

    def fetch(keys: list[str]) -> dict[str, StoredResult]:  # this run's records as it holds them, the rest stored
        got = {h: held[h] for h in keys if h in held}
        rest = [h for h in keys if h not in got]
        return {**got, **store.get_results(sha, rest)} if rest else got

    return LazyRows(table, fetch, Row.from_stored)
