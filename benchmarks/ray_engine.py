"""Local engine against ray engine on one set of 256x256 JPEG synthetic portraits (issue 16).

    .venv/bin/python benchmarks/ray_engine.py              # 10,000 images (the issue's set)
    .venv/bin/python benchmarks/ray_engine.py --n 500      # a smaller first slice of the same set
    .venv/bin/python benchmarks/ray_engine.py --json

The set is the offline demo's synthetic portraits (:func:`facefake_core.demo.synth.render_portrait`, half fake,
half real, half studio, half casual; :data:`UNIQUE` rendered, the rest shifted copies) saved as JPEG quality 92,
cached in ``--cache`` (default ``~/.cache/facefake/bench_ray``) so later runs reuse it; ``--n`` takes the first N of
it. The model is a random-init fastai ``vision_learner(resnet50, pretrained=False)`` at 256 px, like the seed's;
``--arch``/``--size`` pick a cheaper one (the engine's own overhead then weighs more: a harsher test). Each engine
evaluates the set into a fresh store in a fresh process (so each pays its own start-up, and its peak RSS is its own),
with focus measures and CAMs, at the default batch size.

Figures:
  local_img_s, ray_img_s      images per second of the whole ``evaluate`` call (ray: with Ray's start-up)
  ray_steady_img_s            ray: images per second from the first stored batch to the last (start-up left out)
  ray_over_local              ray_img_s / local_img_s                                          target >= 0.8
  *_rss_mb_{10,50,100}        the driver's RSS when 10%, 50%, 100% of the rows are stored (flat = no growth)
  *_peak_rss_mb               the driver's peak RSS over the run (ru_maxrss)
  per_image_s_*               seconds of one core per image (2 cores here): the basis of docs/performance.md's 140k plan
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from facefake_core import load_model, evaluate, Store
model = load_model(sys.argv[1], device="cpu")
engine, n = sys.argv[3], int(sys.argv[4])
marks, first = {}, []

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

def progress(done, total, what):
    if done and not first:
        first.append((time.perf_counter(), done))
    for pct in (10, 50, 100):
        if total and done * 100 >= pct * total and pct not in marks:
            marks[pct] = rss_mb()

if engine == "ray":
    from facefake_core.evaluation.ray_engine import connect
    t = time.perf_counter(); connect(None); init_s = time.perf_counter() - t
else:
    init_s = 0.0
t = time.perf_counter()
ev = evaluate(model, sys.argv[2], store=Store(sys.argv[5]), engine=engine, progress=progress)
wall = time.perf_counter() - t
end = time.perf_counter()
steady = (len(ev.rows) - first[0][1]) / (end - first[0][0]) if first and end > first[0][0] else None
print(json.dumps({"rows": len(ev.rows), "errors": len(ev.errors), "wall_s": wall, "init_s": init_s,
                  "img_s": len(ev.rows) / (wall + init_s), "steady_img_s": steady,
                  "rss_mb": marks, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


#: Portraits rendered from their own seed; image i past these is portrait ``i % UNIQUE`` rolled by ``i // UNIQUE``
#: px and mirrored every other time (rendering 10,000 takes most of an hour here): still a distinct JPEG, hashed
#: and run through the model like any other, with the same label and style (UNIQUE is a multiple of 4).
UNIQUE = 1000


def variant(img: "np.ndarray", k: int) -> "np.ndarray":
    """Copy ``k`` of a rendered portrait (RGB uint8): itself for 0, else rolled by ``k`` px, mirrored when ``k`` is
    odd."""
    import numpy as np

    if k == 0:
        return img
    img = np.roll(img, k, axis=1)
    return np.ascontiguousarray(img[:, ::-1]) if k % 2 else img


def make_set(cache: Path, n: int) -> Path:
    """The first ``n`` images of the cached benchmark set (written on first use): ``cache/n{n}/{fake,real}/``."""
    from PIL import Image

    from facefake_core.demo.synth import render_portrait

    pool = cache / "images"
    for label in ("fake", "real"):
        (pool / label).mkdir(parents=True, exist_ok=True)

    def name(i: int) -> tuple[str, str, Path]:
        label, style = ("fake", "real")[i % 2], ("casual", "studio")[(i // 2) % 2]
        return label, style, pool / label / f"{style}_{i:05d}.jpg"

    for base in range(min(n, UNIQUE)):  # each portrait rendered once, then written with its copies
        todo = [i for i in range(base, n, UNIQUE) if not name(i)[2].exists()]
        if todo:
            label, style, _ = name(base)
            img = render_portrait(base, label, style, size=256)
            for i in todo:
                Image.fromarray(variant(img, i // UNIQUE)).save(name(i)[2], quality=92)
    view = cache / f"n{n}"
    for i in range(n):  # a folder of links, so that every --n reuses one pool of files
        label, _, target = name(i)
        link = view / label / target.name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    return view


def run_engine(pkl: Path, folder: Path, engine: str, n: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(pkl), str(folder), engine, str(n),
                          str(work / f"{engine}.db")], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(f"{engine} run failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="images (default 10,000)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "facefake" / "bench_ray")
    ap.add_argument("--arch", choices=["resnet50", "resnet18"], default="resnet50",
                    help="the random-init learner's body (default resnet50, the seed's)")
    ap.add_argument("--size", type=int, default=256, help="the learner's input size in px (default 256, the seed's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from conftest import export_learner

    t = time.perf_counter()
    folder = make_set(args.cache, args.n)
    make_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pkl = export_learner(work / "learner", arch_name=args.arch, size=args.size)
        local = run_engine(pkl, folder, "local", args.n, work)
        remote = run_engine(pkl, folder, "ray", args.n, work)
    cores = os.cpu_count() or 1
    fig = {"n": args.n, "arch": args.arch, "size": args.size, "cores": cores,
           "load_avg_1m_at_end": os.getloadavg()[0], "set_s": make_s,
           "local_img_s": local["img_s"], "ray_img_s": remote["img_s"], "ray_init_s": remote["init_s"],
           "ray_steady_img_s": remote["steady_img_s"], "ray_over_local": remote["img_s"] / local["img_s"],
           "per_image_s_local": cores / local["img_s"],
           "per_image_s_ray_steady": cores / remote["steady_img_s"] if remote["steady_img_s"] else None}
    for name, r in (("local", local), ("ray", remote)):
        fig.update({f"{name}_rss_mb_{k}": v for k, v in r["rss_mb"].items()})
        fig[f"{name}_peak_rss_mb"] = r["peak_rss_mb"]
        fig[f"{name}_rows"] = r["rows"]
    if args.json:
        print(json.dumps(fig, indent=2))
    else:
        for k, v in fig.items():
            print(f"{k:26} {v:.3f}" if isinstance(v, float) else f"{k:26} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
