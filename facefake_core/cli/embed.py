"""Commands on the model's feature space: ``embed`` (a 2-D map of a set, and its near-duplicates) and
``neighbours`` (an image's nearest images in one or more sets)."""

from __future__ import annotations

import os

from ..analysis import (
    EMBED_METHODS, SetFeatures, embedding_map, image_hashes, near_duplicates, neighbours, set_features,
)
from ..config import CONFIG
from ..evaluation import Evaluation, Store, evaluate
from ..imaging import file_sha256, load_photo
from ..model import Model
from ..progress import Progress
from ._common import add_common, emit, load


def _evaluated(model: Model, sources: list[str], store: Store, progress: Progress) -> list[tuple[str, Evaluation]]:
    """Each set evaluated (stored rows are reused; rows stored without features get them), named by its path."""
    return [(src, evaluate(model, src, store=store, progress=progress)) for src in sources]


def _features(named: list[tuple[str, Evaluation]], store: Store) -> list[SetFeatures]:
    return [set_features(ev, store, name) for name, ev in named]


def cmd_embed(args, progress) -> int:
    model = load(args, progress)
    store = Store(args.store) if args.store else Store()
    named = _evaluated(model, [args.source, *args.against], store, progress)
    ev = named[0][1]
    m = embedding_map(ev, store, args.method, seed=args.seed, name=args.source)
    pools = _features(named, store)
    hashes = image_hashes(pools, store)
    pairs = [p for p in near_duplicates(pools, args.threshold, hashes, args.hamming)
             if args.source in (p.set_a, p.set_b)]
    data = {"model": model.info.source, "n": len(m.features.rows), "dim": m.features.dim, "method": m.method,
            "params": m.params, "cached": m.cached,
            "points": m.points(),
            "near_duplicates": [{"a": p.a, "b": p.b, "distance": p.distance, "hamming": p.hamming, "kind": p.kind,
                                 "cross_set": p.cross_set} for p in pairs]}
    flag = lambda p: "  ACROSS SETS (leakage?)" if p.cross_set else ""
    text = (f"{data['n']} images, {data['dim']}-d features, {m.method} map "
            f"({'from the store' if m.cached else f'{m.seconds:.1f} s'})\n"
            f"{len(pairs)} near-duplicate pairs (perceptual hash within {args.hamming} bits of 256)" +
            "".join(f"\n  {'-' if p.hamming is None else p.hamming:>3} bits  cosine {p.distance:.5f}  {p.a}  ~  "
                    f"{p.b}{flag(p)}" for p in pairs))
    emit(args, data, text)
    return 0


def cmd_neighbours(args, progress) -> int:
    model = load(args, progress)
    store = Store(args.store) if args.store else Store()
    pools = _features(_evaluated(model, args.set, store, progress), store)
    sha = file_sha256(args.image)
    own = next(((p, i) for p in pools for i, r in enumerate(p.rows) if r.image_sha == sha
                and os.path.realpath(r.path) == os.path.realpath(args.image)), None)
    own = own or next(((p, i) for p in pools for i, r in enumerate(p.rows) if r.image_sha == sha), None)
    if own is not None:  # an image of the sets: its stored vector, and its own row left out
        pool, i = own
        query, exclude = pool.vectors[i], (pool.name, pool.rows[i].path)
    else:  # any other image: one forward pass
        _, feats = model.features_batch([load_photo(args.image)])
        if feats is None:
            raise ValueError("this model's head does not end in a Linear layer, so it has no feature vectors")
        query, exclude = feats[0], None
    found = neighbours(query, pools, args.k, exclude)
    emit(args, [n.to_dict() for n in found],
         "\n".join(f"{n.distance:.5f}  {n.path}  ({n.set}; true {n.label}, predicted {n.pred})" for n in found))
    return 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
    p = sub.add_parser("embed", help="a 2-D map of a set in the model's feature space, and its near-duplicates",
                       description="Evaluates the set if needed (stored results are reused), then projects the "
                       "stored feature vectors (the input of the head's final Linear) to 2-D. JSON: {model, n, dim, "
                       "method, points: [{path, x, y, label, pred}], near_duplicates: [{a, b, distance, hamming, kind, "
                       "cross_set}]}. Near-duplicates are found by a perceptual hash of each image (stored).")
    p.add_argument("source", metavar="SET", help="a folder of class subfolders, or a CSV manifest")
    p.add_argument("--method", choices=EMBED_METHODS, default="pca", help="projection (default: pca; umap is seeded)")
    p.add_argument("--seed", type=int, default=0, help="random state of the projection")
    p.add_argument("--against", action="append", default=[], metavar="OTHER_SET",
                   help="also list near-duplicates between SET and this set (a training folder, say); repeatable")
    p.add_argument("--hamming", type=int, default=CONFIG.near_duplicate_hamming,
                   help="perceptual-hash distance (bits of 256) at or below which two images are near-duplicates "
                        "(finds re-encoded, resized and 1-6%% cropped copies; docs/embedding-map.md)")
    p.add_argument("--threshold", type=float, default=CONFIG.near_duplicate_distance,
                   help="cosine distance in feature space below which two images count, for images whose file "
                        "can no longer be hashed")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    add_common(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("neighbours", help="an image's nearest images in the model's feature space",
                       description="Cosine distance between stored feature vectors, nearest first. JSON: "
                       "[{path, set, distance, label, pred}].")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--set", action="append", required=True, metavar="SET",
                   help="a set to search (evaluated if needed); repeat to search several")
    p.add_argument("-k", type=int, default=CONFIG.neighbours_k, help="how many neighbours")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    add_common(p)
    p.set_defaults(func=cmd_neighbours)
