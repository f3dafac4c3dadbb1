"""The model's share of an evaluation's CPU time, which machine load hardly moves (unlike wall-clock ratios).

Usage::

    .venv/bin/python benchmarks/cpu_share.py [--n 32] [--repeat 3]

Everything runs on one thread (torch and OpenCV), ``evaluate(..., lanes=1, workers=1)``, on the same random-init
fastai ``vision_learner(resnet50, pretrained=False)`` at 256 px and 640x480 JPEGs as ``benchmarks/run.py``. It prints
the CPU time (``time.process_time``, all threads) of forward-only passes over the images in batches of 4 against
that of a fresh evaluation of them (probabilities, CAM grids, feature vectors and focus measures stored), as
``fwd_over_eval`` (the best ``eval_over_forward`` the CPU lanes could reach with this much fixed work per photo)
and the extra milliseconds per image. Medians over ``--repeat`` pairs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
warnings.filterwarnings("ignore")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from conftest import export_learner
    from run import make_images, prepared_batches

    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import Store

    work = Path(tempfile.mkdtemp())
    model = load_model(str(export_learner(work / "learner", size=256)), device="cpu")
    paths = sorted(make_images(work / "set", args.n, labelled=True))
    xs = prepared_batches(model, paths, 4)

    def forward() -> None:
        with torch.inference_mode():
            for x in xs:
                model.net(x)

    forward()
    fwd, ev = [], []
    for k in range(args.repeat):
        t = time.process_time()
        forward()
        fwd.append(time.process_time() - t)
        t = time.process_time()
        evaluate(model, work / "set", store=Store(work / f"s{k}.sqlite"), batch_size=4, lanes=1, workers=1)
        ev.append(time.process_time() - t)
    f, e = statistics.median(fwd), statistics.median(ev)
    print(f"forward-only {f:.2f} s CPU, evaluation {e:.2f} s CPU for {args.n} images: fwd_over_eval {f / e:.3f}, "
          f"{(e - f) / args.n * 1e3:.1f} ms more per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
