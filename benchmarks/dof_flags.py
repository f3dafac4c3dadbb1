"""How often ``narrow_dof`` flags the offline demo's portraits at several render sizes, and how far one photo's
``dof_score`` moves when it is resized.

Usage::

    .venv/bin/python benchmarks/dof_flags.py [--n 40] [--sizes 192,384,768] [--cache DIR] [--json]

* **Flag rates**: ``--n`` portraits per label and style (seeds 10000 and up, outside the demo's hard set), rendered
  at each size by :func:`facefake_core.demo.render_portrait` (its textures and blurs are fractions of the frame,
  so a bigger render is the same kind of photo with more pixels). Target (issue 15): at least 90% of studio and
  at most 10% of casual portraits flagged at every size.
* **Resizing**: the first ``--resize-n`` portraits of each label and style at the largest size, resized (INTER_AREA
  down, bicubic up) to 192, 256, 384, 512, 768, 1024 and 2048 px: each portrait's ``dof_score`` spread (largest
  minus smallest) and whether it keeps one verdict, and the largest spread (target: one verdict, at most 0.05).

``--cache DIR`` keeps the rendered PNGs (a 768 px render takes about a second here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facefake_core.demo import LABELS, STYLES, render_portrait  # noqa: E402
from facefake_core.imaging import measure_focus  # noqa: E402

RESIZE_SIDES = (192, 256, 384, 512, 768, 1024, 2048)
SPREAD_TARGET = 0.05
FIRST_SEED = 10_000


def portrait(seed: int, label: str, style: str, size: int, cache: Path | None) -> np.ndarray:
    path = cache / str(size) / f"{label}_{style}_{seed}.png" if cache else None
    if path is not None and path.exists():
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    img = render_portrait(seed, label, style, size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return img


def resized(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    f = side / max(h, w)
    return cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="portraits per label and style")
    ap.add_argument("--sizes", default="192,384,768")
    ap.add_argument("--resize-n", type=int, default=5, help="portraits per label and style for the resize check")
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict = {"n": args.n, "rates": {}, "focus_ms": {}}
    ok = True
    for size in sizes:
        spent, rates = 0.0, {}
        for label in LABELS:
            for style in STYLES:
                flags = []
                for seed in range(FIRST_SEED, FIRST_SEED + args.n):
                    img = portrait(seed, label, style, size, args.cache)
                    t = time.perf_counter()
                    flags.append(measure_focus(img).narrow_dof)
                    spent += time.perf_counter() - t
                rates[f"{style} {label}s"] = float(np.mean(flags))
                ok &= rates[f"{style} {label}s"] >= 0.9 if style == "studio" else rates[f"{style} {label}s"] <= 0.1
        out["rates"][size] = rates
        out["focus_ms"][size] = spent / (len(LABELS) * len(STYLES) * args.n) * 1e3
    per_photo = []
    for label in LABELS:
        for style in STYLES:
            for seed in range(FIRST_SEED, FIRST_SEED + args.resize_n):
                img = portrait(seed, label, style, max(sizes), args.cache)
                ms = [measure_focus(resized(img, side)) for side in RESIZE_SIDES]
                scores = [m.dof_score for m in ms]
                per_photo.append({"photo": f"{label}_{style}_{seed}", "dof_spread": max(scores) - min(scores),
                                  "one_verdict": len({m.narrow_dof for m in ms}) == 1,
                                  "face_sources": "".join(m.face_source[0] for m in ms), "dof_scores": scores})
    same = sum(p["one_verdict"] for p in per_photo)
    spread = max((p["dof_spread"] for p in per_photo), default=0.0)
    out["resize"] = {"photos": len(per_photo), "one_verdict": same, "max_dof_spread": spread,
                     "within_target": sum(p["dof_spread"] <= SPREAD_TARGET for p in per_photo),
                     "sides": list(RESIZE_SIDES), "per_photo": per_photo}
    ok &= same == len(per_photo) and spread <= SPREAD_TARGET
    out["ok"] = bool(ok)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0 if ok else 1
    print(f"{'size':>6} | " + " | ".join(f"{k:>14}" for k in next(iter(out["rates"].values()))) + " | focus ms")
    for size, rates in out["rates"].items():
        print(f"{size:>4}px | " + " | ".join(f"{100 * v:13.0f}%" for v in rates.values())
              + f" | {out['focus_ms'][size]:.1f}")
    r = out["resize"]
    print(f"resized from {max(sizes)} px to {r['sides']} (face found by c: cascade, s: sharpness, n: none):")
    for p in sorted(r["per_photo"], key=lambda p: -p["dof_spread"]):
        print(f"  {p['photo']:>22}  spread {p['dof_spread']:.3f}  {'one verdict' if p['one_verdict'] else 'VERDICTS DIFFER'}"
              f"  {p['face_sources']}  " + " ".join(f"{v:+.2f}" for v in p["dof_scores"]))
    print(f"{r['one_verdict']} of {r['photos']} photos keep one verdict, {r['within_target']} move by at most "
          f"{SPREAD_TARGET}; largest dof_score spread {r['max_dof_spread']:.3f}")
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
