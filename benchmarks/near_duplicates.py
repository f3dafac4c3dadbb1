"""Where to put the near-duplicate threshold: cosine distances in a model's feature space between demo portraits
and their re-encoded, resized or cropped copies, against distances between distinct portraits.

    .venv/bin/python benchmarks/near_duplicates.py --model demo:round0 [--n 40] [--json]

Portraits come from the offline demo's generator (``facefake_core.demo.render_portrait``, all four label/style
cells, seeds far from the demo's own sets); nothing is trained. For every original, each copy's distance to it is
measured, and so is the nearest *other* portrait. A threshold works when it lies above the copies' distances and
below every distinct pair's. Prints a table (or JSON) and a suggested threshold: the geometric mean of the largest
copy distance and the smallest distinct distance, when the two do not overlap.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facefake_core import CONFIG, load_model, load_photo  # noqa: E402
from facefake_core.demo import LABELS, STYLES, render_portrait  # noqa: E402


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _resize(img: Image.Image, f: float) -> Image.Image:
    return img.resize((round(img.width * f), round(img.height * f)), Image.BILINEAR)


def _crop(img: Image.Image, share: float) -> Image.Image:
    dx, dy = round(img.width * share), round(img.height * share)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


#: The copies measured: what a leaked duplicate of a portrait plausibly went through.
COPIES = {
    "jpeg q85": lambda im: _jpeg(im, 85),
    "jpeg q70": lambda im: _jpeg(im, 70),
    "resize 0.75": lambda im: _resize(im, 0.75),
    "resize 0.5": lambda im: _resize(im, 0.5),
    "crop 4% a side": lambda im: _crop(im, 0.04),
    "jpeg q80 + resize 0.75": lambda im: _jpeg(_resize(im, 0.75), 80),
    "jpeg q75 + resize 0.6 + crop 3%": lambda im: _jpeg(_resize(_crop(im, 0.03), 0.6), 75),
}


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine distance of float ``(N, D)`` arrays (scikit-learn's definition, 1 - cos)."""
    from sklearn.metrics.pairwise import paired_cosine_distances

    return paired_cosine_distances(a, b)


def measure(model_src: str, n: int, seed0: int = 900_000) -> dict:
    from sklearn.metrics.pairwise import cosine_distances

    model = load_model(model_src, device="cpu")
    cells = [(label, style) for label in LABELS for style in STYLES]
    originals = [Image.fromarray(render_portrait(seed0 + i, *cells[i % len(cells)])) for i in range(n)]

    def feats(images: list[Image.Image]) -> np.ndarray:
        out = []
        for i in range(0, len(images), 8):
            _, f = model.features_batch([load_photo(np.asarray(im)) for im in images[i : i + 8]])
            if f is None:
                raise SystemExit("this model's head does not end in a Linear: no features to measure")
            out.append(f)
        return np.concatenate(out)

    base = feats(originals)
    copied = {name: feats([f(im) for im in originals]) for name, f in COPIES.items()}
    out = {"model": model_src, "arch": model.info.arch, "dim": int(base.shape[1]), "n": n}
    # "raw": cosine distance of the stored vectors, as the tool computes it; "centred": after subtracting the
    # originals' mean vector (for comparison: a random-init network puts every image near one direction).
    for kind, shift in (("raw", 0.0), ("centred", base.mean(0))):
        d = cosine_distances(base - shift)
        typical = float(np.median(d[np.triu_indices(n, 1)]))  # median distance over all distinct pairs
        np.fill_diagonal(d, np.inf)
        nearest_other = d.min(1)
        copies = {name: cosine(c - shift, base - shift) for name, c in copied.items()}
        worst_copy = max(float(v.max()) for v in copies.values())
        closest_other = float(nearest_other.min())
        out[kind] = {
            "copies": {k: {"median": float(np.median(v)), "max": float(v.max()),
                           "found": float(np.mean(v < CONFIG.near_duplicate_distance))} for k, v in copies.items()},
            "distinct_under_threshold": int(np.sum(nearest_other < CONFIG.near_duplicate_distance)),
            "distinct": {"min": closest_other, "p5": float(np.percentile(nearest_other, 5)),
                         "median_nearest": float(np.median(nearest_other))},
            "median_pair": typical,
            "separable": worst_copy < closest_other,
            "suggested": float(np.sqrt(worst_copy * closest_other)) if worst_copy < closest_other else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="model source; repeat for several")
    ap.add_argument("--n", type=int, default=40, help="portraits (spread over the four label/style cells)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [measure(m, args.n) for m in args.model]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        for kind in ("raw", "centred"):
            k = r[kind]
            print(f"{r['model']} ({r['arch']}, {r['dim']}-d), {r['n']} portraits, {kind} vectors: cosine distance "
                  "to the original")
            for name, s in k["copies"].items():
                print(f"  {name:<34} median {s['median']:.5f}  max {s['max']:.5f}  "
                      f"under {CONFIG.near_duplicate_distance:g}: {s['found']:.0%}")
            s = k["distinct"]
            print(f"  nearest distinct portrait          min {s['min']:.5f}  5th pct {s['p5']:.5f}  "
                  f"median {s['median_nearest']:.5f}")
            print(f"  median distance over all pairs {k['median_pair']:.5f}; separable: {k['separable']}; "
                  f"suggested threshold: {k['suggested']}")


if __name__ == "__main__":
    main()
