"""The CAM tail alone: one class's map against every class's, on the same layer4 activations, interleaved.

    .venv/bin/python benchmarks/cam_tail.py [--pairs 30] [--batch 4]

The front of the network runs once, outside the timing; each call then runs only what ``predict_and_cam`` adds
after it (the head, forward and backward, through pytorch-grad-cam), so the figure is the tail's cost per image.
The model is a random-init fastai ``vision_learner(resnet50, pretrained=False)`` at 256 px, like the seed's.
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
warnings.filterwarnings("ignore")


def main(argv=None) -> int:
    from conftest import draw_photo, export_learner
    from facefake_core import load_model
    from facefake_core.imaging import load_photo
    from facefake_core.model import predict_and_cam

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args(argv)
    model = load_model(str(export_learner(Path(tempfile.mkdtemp()), size=256)), device="cpu")
    split = model.split()
    x = model.prepare([load_photo(draw_photo(i, 640, 480)) for i in range(args.batch)])
    tail = split.ran(x)  # the front, already run: every call gets the same activations
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.pairs):
        for every in times:
            t = time.perf_counter()
            predict_and_cam(tail, x, every_class=every)
            times[every].append((time.perf_counter() - t) / args.batch * 1e3)
    one, every = (statistics.median(times[k]) for k in (False, True))
    print(f"CAM tail, median of {args.pairs} interleaved pairs, batch {args.batch}, 256 px: one class {one:.2f} "
          f"ms/img, every class ({len(model.vocab)}) {every:.2f} ms/img, ratio {every / one:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
