"""Where to put the near-duplicate thresholds: how far demo portraits lie from their re-encoded, resized or cropped
copies, by perceptual hash and by cosine distance in a model's feature space, against how far distinct portraits lie
from each other.

    .venv/bin/python benchmarks/near_duplicates.py --model demo:round0 [--n 40] [--distinct DIR ...] [--json]

Portraits come from the offline demo's generator (``facefake_core.demo.render_portrait``, all four label/style
cells, seeds far from the demo's own sets); nothing is trained. For every original, each copy's distance to it is
measured, and so is the nearest *other* portrait. ``--distinct DIR`` (repeatable: the demo's hard set and training
folder, say) adds every image of those folders as distinct portraits too, and counts the pairs among them that each
threshold would list (they are all different renderings, so every listed pair is a false one). A copy is *found*
when its hash distance is at most ``CONFIG.near_duplicate_hamming``, as :func:`facefake_core.analysis.near_duplicates`
decides for images that have hashes; the feature distance (which decides only for images without a hash) is shown
for comparison. The last lines time the
hash and the pair search on 10,000 made-up hashes (``--n-speed``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facefake_core import CONFIG, load_model, load_photo  # noqa: E402
from facefake_core.demo import LABELS, STYLES, render_portrait  # noqa: E402
from facefake_core.imaging.perceptual import CROP_VARIANTS, hash_distance, hash_pairs, perceptual_hash  # noqa: E402


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _resize(img: Image.Image, f: float) -> Image.Image:
    return img.resize((round(img.width * f), round(img.height * f)), Image.BILINEAR)


def _crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


_RNG = np.random.default_rng(0)
#: The copies measured: what a leaked duplicate of a portrait plausibly went through.
COPIES = {
    "jpeg q85": lambda im: _jpeg(im, 85),
    "jpeg q70": lambda im: _jpeg(im, 70),
    "resize 0.5": lambda im: _resize(im, 0.5),
    "resize 0.75": lambda im: _resize(im, 0.75),
    "resize 2": lambda im: _resize(im, 2.0),
    "crop 2% a side": lambda im: _crop(im, *[0.02] * 4),
    "crop 3% a side": lambda im: _crop(im, *[0.03] * 4),
    "crop 4% a side": lambda im: _crop(im, *[0.04] * 4),
    "crop 5% a side": lambda im: _crop(im, *[0.05] * 4),
    "crop 2.5% a side": lambda im: _crop(im, *[0.025] * 4),
    "crop 4% off top and left": lambda im: _crop(im, 0.04, 0.04, 0, 0),
    "crop 3% off the left only": lambda im: _crop(im, 0.03, 0, 0, 0),
    "crop 2-5% a side, each random": lambda im: _crop(im, *_RNG.uniform(0.02, 0.05, 4)),
    "jpeg q80 + resize 0.75": lambda im: _jpeg(_resize(im, 0.75), 80),
    "jpeg q75 + resize 0.6 + crop 3%": lambda im: _jpeg(_resize(_crop(im, *[0.03] * 4), 0.6), 75),
}


def _folder_images(folders: list[str]) -> list[Image.Image]:
    files = sorted(p for d in folders for p in Path(d).rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    return [Image.open(p).convert("RGB") for p in files]


def measure(model_src: str, n: int, distinct_dirs: list[str], seed0: int = 900_000) -> dict:
    from sklearn.metrics.pairwise import cosine_distances, paired_cosine_distances

    model = load_model(model_src, device="cpu")
    cells = [(label, style) for label in LABELS for style in STYLES]
    originals = [Image.fromarray(render_portrait(seed0 + i, *cells[i % len(cells)])) for i in range(n)]
    copies = {name: [f(im) for im in originals] for name, f in COPIES.items()}

    def feats(images: list[Image.Image]) -> np.ndarray:
        out = []
        for i in range(0, len(images), 8):
            _, f = model.features_batch([load_photo(np.asarray(im)) for im in images[i : i + 8]])
            if f is None:
                raise SystemExit("this model's head does not end in a Linear: no features to measure")
            out.append(f)
        return np.concatenate(out)

    hashes = lambda images: np.stack([perceptual_hash(np.asarray(im)) for im in images])
    base, base_h = feats(originals), hashes(originals)
    feat_d = {k: paired_cosine_distances(feats(v), base) for k, v in copies.items()}
    hash_d = {k: np.array([hash_distance(h, o) for h, o in zip(hashes(v), base_h)]) for k, v in copies.items()}
    t_f, t_h = CONFIG.near_duplicate_distance, CONFIG.near_duplicate_hamming
    out = {"model": model_src, "arch": model.info.arch, "dim": int(base.shape[1]), "n": n,
           "thresholds": {"cosine": t_f, "hamming": t_h}, "copies": {}}
    for k in COPIES:
        f, h = feat_d[k], hash_d[k]
        out["copies"][k] = {"cosine_median": float(np.median(f)), "hamming_median": float(np.median(h)),
                            "hamming_max": int(h.max()), "found_features": float(np.mean(f < t_f)),
                            "found_hash": float(np.mean(h <= t_h))}
    # Distinct portraits: the generated originals, plus every image of --distinct.
    extra = _folder_images(distinct_dirs)
    all_f = np.concatenate([base, feats(extra)]) if extra else base
    all_h = np.concatenate([base_h, hashes(extra)]) if extra else base_h
    cos = cosine_distances(all_f)
    np.fill_diagonal(cos, np.inf)
    hash_pairs_found = {(i, j): d for i, j, d in hash_pairs(all_h, max(t_h, 64))}
    nearest_h = np.full(len(all_h), 10**6)
    for (i, j), d in hash_pairs_found.items():
        nearest_h[i], nearest_h[j] = min(nearest_h[i], d), min(nearest_h[j], d)
    false_f = {(i, j) for i, j in zip(*np.nonzero(np.triu(cos < t_f, 1)))}
    false_h = {k for k, d in hash_pairs_found.items() if d <= t_h}
    out["distinct"] = {"images": len(all_h), "pairs": len(all_h) * (len(all_h) - 1) // 2,
                       "cosine_nearest_min": float(cos.min()), "cosine_nearest_median": float(np.median(cos.min(1))),
                       "hamming_nearest_min": int(nearest_h.min()),
                       "hamming_nearest_p1": float(np.percentile(nearest_h, 1)),
                       "false_pairs_hash": len(false_h), "false_pairs_features_alone": len(false_f)}
    return out


def speed(n: int) -> dict:
    """Seconds to hash one 192 px portrait (all variants), and to search ``n`` made-up hashes for pairs."""
    img = render_portrait(1, "real", "casual")
    start = time.perf_counter()
    for _ in range(20):
        perceptual_hash(img)
    per_image = time.perf_counter() - start
    fake = np.random.default_rng(0).integers(0, 256, (n, len(CROP_VARIANTS), 32), dtype=np.uint8)
    start = time.perf_counter()
    pairs = sum(1 for _ in hash_pairs(fake, CONFIG.near_duplicate_hamming))
    return {"hash_ms_per_image": per_image / 20 * 1000, "variants": len(CROP_VARIANTS), "n_search": n,
            "pair_search_s": time.perf_counter() - start, "random_pairs_found": pairs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="model source; repeat for several")
    ap.add_argument("--n", type=int, default=40, help="portraits (spread over the four label/style cells)")
    ap.add_argument("--distinct", action="append", default=[], metavar="DIR",
                    help="a folder of distinct portraits whose pairs are all false ones (repeatable)")
    ap.add_argument("--n-speed", type=int, default=2000, help="made-up hashes for the pair search's timing (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [measure(m, args.n, args.distinct) for m in args.model]
    timing = speed(args.n_speed) if args.n_speed else None
    if args.json:
        print(json.dumps({"results": results, "speed": timing}, indent=2))
        return
    for r in results:
        t = r["thresholds"]
        print(f"{r['model']} ({r['arch']}, {r['dim']}-d), {r['n']} portraits; found: hash <= {t['hamming']} bits "
              f"(features alone: cosine < {t['cosine']:g})")
        print(f"  {'copy':<34} {'cos median':>10} {'bits median':>11} {'bits max':>8} {'features alone':>14} "
              f"{'found':>6}")
        for name, s in r["copies"].items():
            print(f"  {name:<34} {s['cosine_median']:>10.5f} {s['hamming_median']:>11.0f} {s['hamming_max']:>8} "
                  f"{s['found_features']:>14.0%} {s['found_hash']:>6.0%}")
        d = r["distinct"]
        print(f"  distinct: {d['images']} images, {d['pairs']} pairs; nearest other: cosine min "
              f"{d['cosine_nearest_min']:.5f} (median {d['cosine_nearest_median']:.5f}), bits min "
              f"{d['hamming_nearest_min']} (1st pct {d['hamming_nearest_p1']:.0f}); false pairs listed: "
              f"{d['false_pairs_hash']} (features alone would list {d['false_pairs_features_alone']})")
    if timing:
        print(f"hash: {timing['hash_ms_per_image']:.1f} ms per 192 px image ({timing['variants']} variants); pair "
              f"search over {timing['n_search']} images: {timing['pair_search_s']:.1f} s")


if __name__ == "__main__":
    main()
