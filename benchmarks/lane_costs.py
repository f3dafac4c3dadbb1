"""Where an evaluation's time goes inside the CPU lanes, measured in a real evaluation (not stage by stage).

Usage::

    .venv/bin/python benchmarks/lane_costs.py [--n 64] [--repeat 3] [--json]

``benchmarks/run.py`` times each stage alone; this times them where they run: a fresh ``evaluate`` of ``--n``
640x480 JPEGs (probabilities, every class's CAM grid, feature vectors and focus measures stored; batch 4; the
evaluator's own lanes) on the same random-init fastai ``vision_learner(resnet50, pretrained=False)`` at 256 px,
with the runner's steps wrapped in timers. Per image, summed over the lanes' threads (thread-milliseconds):

  prepare   reading, decoding and fastai's preprocessing (``_prepare`` less the focus measures)
  focus     the focus measures (``measure_focus``)
  front     the network up to the CAM layer (``SplitModel.ran``), the forward pass the prediction comes from
  tail      the rest of ``predict_and_cam``: the head for every class's copy, its backward, pytorch-grad-cam
  rows      the rest of the batch's work: stacking and normalising the batch, the CAM's shares on the defocused
            blocks and the face, the store rows
  idle      the evaluation's wall time times the lanes, less the parts above: hashing the files and opening the
            store before the lanes start, a lane waiting, the last lane finishing alone
  store     the calling thread's store writes (beside the lanes, not in their sum)

and, in the same repetition, the forward pass alone in the same lanes over the same prepared batches
(``forward_lanes``, as ``run.py``'s ``eval_over_lane_forward``). ``front`` against ``forward_lanes`` shows what the
rest of the evaluation costs the model's own pass (the two lanes share two cores). Medians over ``--repeat``.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
warnings.filterwarnings("ignore")

PARTS = ("prepare", "focus", "front", "tail", "rows", "idle", "store")


class Timers:
    """Seconds per part, summed over the threads that ran it."""

    def __init__(self) -> None:
        self.lock, self.seconds = threading.Lock(), collections.Counter()

    def wrap(self, owner, name: str, part: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[part] += time.perf_counter() - t

        setattr(owner, name, timed)


def instrument(timers: Timers) -> None:
    """Wrap the runner's steps (module attributes, so the evaluator calls the timed ones)."""
    from facefake_core.evaluation import runner
    from facefake_core.evaluation.store import Store

    timers.wrap(runner, "measure_focus", "focus")
    timers.wrap(runner, "_prepare", "prepare+focus")
    timers.wrap(runner, "_run_batch", "batch")
    for name in ("put_results", "put_focus", "put_features"):
        timers.wrap(Store, name, "store")
    predict_and_cam = runner.predict_and_cam

    def split_timed(split, x, **kwargs):
        t = time.perf_counter()
        ran = split.ran(x)  # the front once, as predict_and_cam would run it
        t1 = time.perf_counter()
        out = predict_and_cam(ran, x, **kwargs)
        with timers.lock:
            timers.seconds["front"] += t1 - t
            timers.seconds["tail"] += time.perf_counter() - t1
        return out

    runner.predict_and_cam = split_timed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="images (default 64)")
    ap.add_argument("--repeat", type=int, default=3, help="evaluations, each after a forward-only pass (default 3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    from conftest import export_learner
    from run import forward_in_lanes, make_images, prepared_batches

    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import Store, cpu_lanes

    work = Path(tempfile.mkdtemp())
    model = load_model(str(export_learner(work / "learner", size=256)), device="cpu")
    paths = sorted(make_images(work / "set", args.n, labelled=True))
    xs = prepared_batches(model, paths, 4)
    lanes, threads = cpu_lanes()
    timers = Timers()
    instrument(timers)
    evaluate(model, work / "set", store=Store(work / "warm.sqlite"), batch_size=4)  # warm-up, not counted
    runs = []
    for k in range(args.repeat):
        t = time.perf_counter()
        forward_in_lanes(model, xs, lanes, threads)
        t_fwd = time.perf_counter() - t
        timers.seconds.clear()
        t = time.perf_counter()
        ev = evaluate(model, work / "set", store=Store(work / f"s{k}.sqlite"), batch_size=4)
        wall = time.perf_counter() - t
        assert ev.computed == args.n and not ev.errors, ev.errors
        s = timers.seconds
        part = {"prepare": s["prepare+focus"] - s["focus"], "focus": s["focus"], "front": s["front"],
                "tail": s["tail"], "rows": s["batch"] - s["front"] - s["tail"], "store": s["store"]}
        part["idle"] = lanes * wall - (s["prepare+focus"] + s["batch"])
        runs.append({"wall_s": wall, "forward_lanes_s": t_fwd, **{p: v / args.n * 1e3 for p, v in part.items()},
                     "forward_lanes": lanes * t_fwd / args.n * 1e3})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out = {"images": args.n, "lanes": lanes, "threads_per_lane": threads, "repeat": args.repeat,
           "ms_per_image": {k: round(med[k], 2) for k in (*PARTS, "forward_lanes")},
           "front_over_forward_lanes": round(statistics.median(r["front"] / r["forward_lanes"] for r in runs), 3),
           "eval_over_lane_forward": round(statistics.median(r["forward_lanes_s"] / r["wall_s"] for r in runs), 3),
           "each": [{k: round(v, 2) for k, v in r.items()} for r in runs]}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.n} images, {lanes} lanes x {threads} thread(s); thread-ms per image, medians of {args.repeat}:")
    for k in (*PARTS, "forward_lanes"):
        print(f"  {k:<14}{out['ms_per_image'][k]:8.2f}")
    print(f"front / forward alone in the lanes: {out['front_over_forward_lanes']:.3f}; "
          f"eval_over_lane_forward: {out['eval_over_lane_forward']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
