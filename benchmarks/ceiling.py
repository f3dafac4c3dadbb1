"""The throughput ceiling of this machine, and what each speed option gives.

    .venv/bin/python benchmarks/ceiling.py [--json] [--compile] [--batches 1,4,8,16,32]

On one random-init fastai ``vision_learner(resnet50, pretrained=False)`` at 256 px (the seed's model and size):

* forward-only throughput (images/s, ``inference_mode``) per batch size, for the learner's network in the default
  memory layout and in ``channels_last``, and for the network as the model runs it (``channels_last`` with the
  BatchNorms folded into the convolutions); and for each torch thread count up to the number of cores;
* with ``--compile``, the same forward under ``torch.compile`` (the compile time is reported separately);
* every option's largest probability difference from the default eager forward (an option is only worth
  adopting if its outputs stay within 1e-5);
* the achieved GFLOP/s (ResNet50's multiply-adds counted by hand over its convolutions and the head, x2), which
  says how close to the arithmetic ceiling the cores run;
* at the evaluator's default batch size, forward-only throughput with one batch at a time on all threads against
  batches in parallel single-threaded lanes; and evaluation throughput in lanes (the default on the CPU) against
  one model thread fed by 1 or 2 decoding threads (``lanes=1``), each pair timed back to back.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
warnings.filterwarnings("ignore")


def conv_macs(net, x) -> int:
    """Multiply-adds of every Conv2d and Linear in ``net`` for input ``x``, counted from the shapes the hooks see."""
    import torch

    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, torch.nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.inference_mode():
        net(x)
    for h in handles:
        h.remove()
    return total // x.shape[0]


def throughput(fn, batch: int, seconds: float = 6.0) -> float:
    """Images per second: median of timed calls after a warm-up, over about ``seconds``."""
    fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--batches", default="1,4,8,16,32", help="batch sizes to try (comma-separated)")
    ap.add_argument("--compile", action="store_true", help="also try torch.compile (slow to compile)")
    ap.add_argument("--n-eval", type=int, default=48, help="images per evaluation configuration")
    args = ap.parse_args(argv)

    import torch

    from conftest import export_learner
    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import cpu_lanes
    from facefake_core.imaging import load_photo
    from facefake_core.model import default_batch_size
    from facefake_core.evaluation import Store
    from run import forward_in_lanes, make_images

    cores = os.cpu_count() or 1
    batches = [int(b) for b in args.batches.split(",")]
    out: dict = {"cores": cores, "torch_threads_default": torch.get_num_threads(),
                 "forward": [], "threads": [], "eval": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["FACEFAKE_CACHE"] = str(work / "cache")
        model = load_model(str(export_learner(work / "learner", size=256)), device="cpu")
        net = copy.deepcopy(model.source_net).to(memory_format=torch.contiguous_format)  # the learner's own
        photos = [load_photo(p) for p in make_images(work / "single", max(batches))]
        x_all = model.prepare(photos).contiguous()
        out["gflop_per_image"] = 2 * conv_macs(net, x_all[:1]) / 1e9

        def probs(m, x):
            with torch.inference_mode():
                return torch.softmax(m(x), 1)

        ref = probs(net, x_all)
        net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)  # same weights, another layout
        to_cl = lambda x: x.to(memory_format=torch.channels_last)  # noqa: E731
        variants = {"eager": (net, lambda x: x), "channels_last": (net_cl, to_cl), "cl+folded BN": (model.net, to_cl)}
        for name, (m, conv) in variants.items():
            diff = float((probs(m, conv(x_all)) - ref).abs().max())
            for b in batches:
                x = conv(x_all[:b])
                ips = throughput(lambda: probs(m, x), b)
                out["forward"].append({"variant": name, "batch": b, "ips": ips, "max_prob_diff": diff,
                                       "gflops": ips * out["gflop_per_image"]})
        if args.compile:
            t = time.perf_counter()
            compiled = torch.compile(net)
            first = probs(compiled, x_all[:16])
            compile_s = time.perf_counter() - t
            diff = float((first - ref[:16]).abs().max())
            ips = throughput(lambda: probs(compiled, x_all[:16]), 16)
            out["forward"].append({"variant": "torch.compile", "batch": 16, "ips": ips, "max_prob_diff": diff,
                                   "gflops": ips * out["gflop_per_image"], "compile_s": compile_s})
        best = max((r for r in out["forward"] if r["variant"] == "cl+folded BN"), key=lambda r: r["ips"])
        for n in range(1, cores + 1):  # the model as loaded (channels_last on the CPU)
            torch.set_num_threads(n)
            x = x_all[: best["batch"]].contiguous(memory_format=model.memory_format)
            out["threads"].append({"threads": n, "batch": best["batch"],
                                   "ips": throughput(lambda: probs(model.net, x), best["batch"])})
        torch.set_num_threads(out["torch_threads_default"])

        batch = default_batch_size(model.device)
        lanes, threads = cpu_lanes()
        xs = [x_all[:batch].contiguous(memory_format=model.memory_format)] * 8
        out["lanes"] = {"batch": batch, "lanes": lanes, "threads_per_lane": threads, "one_batch_ips": [], "lanes_ips": []}
        for _ in range(3):
            for key, run in (("one_batch_ips", lambda: forward_in_lanes(model, xs, 1, 0)),
                             ("lanes_ips", lambda: forward_in_lanes(model, xs, lanes, threads))):
                t = time.perf_counter()
                run()
                out["lanes"][key].append(len(xs) * batch / (time.perf_counter() - t))

        make_images(work / "set", args.n_eval, labelled=True)
        configs = [("lanes", {}), ("1 model thread, 1 decoder", {"lanes": 1, "workers": 1}),
                   ("1 model thread, 2 decoders", {"lanes": 1, "workers": 2})]
        for rep in range(2):
            for name, kw in configs:
                t = time.perf_counter()
                ev = evaluate(model, work / "set", store=Store(work / f"s{rep}{name}.sqlite"), **kw)
                assert ev.computed == args.n_eval
                out["eval"].append({"config": name, "ips": args.n_eval / (time.perf_counter() - t)})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"cores {cores}, torch threads {out['torch_threads_default']}, ResNet50 at 256 px: "
          f"{out['gflop_per_image']:.2f} GFLOP per image")
    print(f"{'variant':>14} {'batch':>5} {'img/s':>7} {'GFLOP/s':>8} {'max |dp|':>9}")
    for r in out["forward"]:
        extra = f"  (compile {r['compile_s']:.0f} s)" if "compile_s" in r else ""
        print(f"{r['variant']:>14} {r['batch']:>5} {r['ips']:>7.2f} {r['gflops']:>8.1f} {r['max_prob_diff']:>9.1e}{extra}")
    for r in out["threads"]:
        print(f"torch threads {r['threads']}: {r['ips']:.2f} img/s at batch {r['batch']}")
    ln = out["lanes"]
    print(f"forward at batch {ln['batch']}: one batch on all threads {statistics.median(ln['one_batch_ips']):.2f} img/s, "
          f"{ln['lanes']} lanes x {ln['threads_per_lane']} thread(s) {statistics.median(ln['lanes_ips']):.2f} img/s")
    for r in out["eval"]:
        print(f"evaluate, {r['config']}: {r['ips']:.2f} img/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
