"""Sweep throughput of the robustness curves against forward-only throughput, paired and repeated.

    .venv/bin/python benchmarks/robustness.py [--n 32] [--repeat 3] [--json]

Each pair times batched forward passes over the already-prepared inputs of every edited copy (the model's work
alone), then a robustness run over the same set into a fresh copy of the store (decode each image once, apply the
edits, preprocess, batch, forward, store). Target (issue 14): ``sweep_over_forward`` >= 0.8. The model is a
random-init fastai vision_learner(resnet50, pretrained=False) at 256 px on 640x480 JPEGs, like benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
warnings.filterwarnings("ignore")

EDITS = {"jpeg": (50.0,), "blur": (2.0,), "downscale": (0.5,), "background_blur": (4.0,)}
TARGET = 0.8


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32, help="images in the set (half fake, half real)")
    ap.add_argument("--repeat", type=int, default=3, help="pairs of forward-only and sweep runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from conftest import export_learner
    from facefake_core import evaluate, load_model
    from facefake_core.analysis import robustness
    from facefake_core.analysis.robustness_curves import EDITS as NAMES
    from facefake_core.evaluation import Store
    from facefake_core.imaging import VARIANTS, load_photo
    from facefake_core.model import default_batch_size
    from run import forward_batch, make_images

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = load_model(str(export_learner(work / "learner", size=256)), device="cpu")
        bs = default_batch_size(model.device)
        make_images(work / "set", args.n, labelled=True)
        base = Store(work / "base.sqlite")
        ev = evaluate(model, work / "set", store=base, batch_size=bs)
        # The same edited copies the sweep makes, prepared ahead: what the model alone has to do.
        items = []
        for r in ev.rows:
            px = load_photo(r.path).pixels
            box = r.focus.face_box if r.focus is not None else None
            for e, vals in EDITS.items():
                v = VARIANTS[NAMES[e]]
                items += [model.prep.item(np.ascontiguousarray(v.apply(px, x, box if v.needs_region else None)))
                          for x in vals]
        xs = [model.batch(items[i: i + bs]) for i in range(0, len(items), bs)]
        forward_batch(model, xs[0])
        pairs = []
        for r in range(args.repeat):
            t = time.perf_counter()
            for x in xs:
                forward_batch(model, x)
            fwd = len(items) / (time.perf_counter() - t)
            store = Store(shutil.copy(work / "base.sqlite", work / f"s{r}.sqlite"))
            t = time.perf_counter()
            out = robustness(model, ev, EDITS, store=store, batch_size=bs)
            sweep = len(items) / (time.perf_counter() - t)
            assert not out["errors"] and all(c["n"] == args.n for c in out["curves"])
            pairs.append((fwd, sweep))
    ratio = statistics.median(s / f for f, s in pairs)
    res = {"n": args.n, "edited_images": len(items), "batch_size": bs, "threads": torch.get_num_threads(),
           "forward_ips": statistics.median(f for f, _ in pairs), "sweep_ips": statistics.median(s for _, s in pairs),
           "sweep_over_forward": ratio, "each": [round(s / f, 3) for f, s in pairs], "target": TARGET,
           "met": ratio >= TARGET}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"forward-only {res['forward_ips']:.2f} img/s, sweep {res['sweep_ips']:.2f} edited img/s "
              f"({len(items)} edited images, batch {bs}): sweep_over_forward {ratio:.3f} (pairs {res['each']}; "
              f"target >= {TARGET}) {'met' if res['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
