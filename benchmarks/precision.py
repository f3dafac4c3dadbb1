"""Opt-in precisions against fp32: the largest probability drift, the CAM grids' drift, and images/s of the
evaluator's model work (prediction + Grad-CAM + features of one batch), on the same images, side by side.

    .venv/bin/python benchmarks/precision.py                      # the demo's round0 on its hard set, CPU bf16
    .venv/bin/python benchmarks/precision.py --n 64 --json
    .venv/bin/python benchmarks/precision.py --device cuda --precision fp16 bf16 --compile   # on a GPU

On the CPU only bf16 is measured by default (CPU autocast); fp16 and --compile are for CUDA. With no model or set
given it uses ``/tmp/mydemo`` (the offline demo). Nothing here is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
warnings.filterwarnings("ignore")


def run(model, photos, batch: int, repeat: int):
    """Probabilities ``(n, C)``, raw CAM grids ``(n, h, w)``, and images/s of the best of ``repeat`` passes."""
    import numpy as np

    from facefake_core.model import predict_and_cam

    split = model.split()
    predict_and_cam(split, model.prepare(photos[:batch]))  # warm-up (kernel choice, compilation)
    best, probs, cams = float("inf"), None, None
    for _ in range(repeat):
        t, p, c = time.perf_counter(), [], []
        for i in range(0, len(photos), batch):
            res = predict_and_cam(split, model.prepare(photos[i : i + batch]))
            p.append(res.probs), c.append(res.raw_cam)
        if model.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
        probs, cams = np.concatenate(p), np.concatenate(c)
    return probs, cams, len(photos) / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="/tmp/mydemo/round0.pkl")
    ap.add_argument("--set", default="/tmp/mydemo/hardset/manifest.csv")
    ap.add_argument("--n", type=int, default=32, help="images (the first of the set)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", nargs="+", default=["bf16"], choices=["fp16", "bf16"])
    ap.add_argument("--compile", action="store_true", help="also each precision with torch.compile")
    ap.add_argument("--batch", type=int, default=0, help="images per batch (default: the evaluator's default)")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes (the best counts)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    from facefake_core import load_model
    from facefake_core.evaluation import discover
    from facefake_core.imaging import load_photo
    from facefake_core.model import default_batch_size

    model = load_model(args.model, device=args.device)
    photos = [load_photo(it.path) for it in discover(args.set, model.vocab).items[: args.n]]
    batch = args.batch or default_batch_size(model.device)
    ref_p, ref_c, ref_speed = run(model, photos, batch, args.repeat)
    out = {"device": torch.cuda.get_device_name() if model.device.type == "cuda" else "cpu",
           "threads": torch.get_num_threads(), "images": len(photos), "batch": batch, "fp32_img_s": ref_speed}
    for precision in args.precision:
        for compiled in (False, True) if args.compile else (False,):
            name = precision + ("+compile" if compiled else "")
            p, c, speed = run(model.variant(precision, compiled), photos, batch, args.repeat)
            scale = np.maximum(ref_c.reshape(len(ref_c), -1).max(1), 1e-12)
            out[name] = {"img_s": speed, "speed_over_fp32": speed / ref_speed,
                         "max_prob_drift": float(np.abs(p - ref_p).max()),
                         "decisions_changed": int((p.argmax(1) != ref_p.argmax(1)).sum()),
                         "max_cam_drift_rel": float((np.abs(c - ref_c).reshape(len(c), -1).max(1) / scale).max())}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:>16}  " + (", ".join(f"{a} {b:.3g}" if isinstance(b, float) else f"{a} {b}"
                                            for a, b in v.items()) if isinstance(v, dict) else str(v)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
