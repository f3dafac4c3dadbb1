"""Speed benchmarks: ratios measured side by side, in one run, on the same model and images.

    .venv/bin/python benchmarks/run.py            # table
    .venv/bin/python benchmarks/run.py --json     # figures as JSON
    .venv/bin/python benchmarks/run.py --memory 5000   # also the peak-RSS of a 5,000-image evaluation
    .venv/bin/python benchmarks/run.py --page 0        # skip the Hard-set page timing (1,000 images)

Figures (targets from issues 7 and 19):
  explain_over_forward  explain(path) against one plain forward pass of the prepared tensor     <= 1.10
  naive_over_ours       learn.predict(path) + pytorch-grad-cam GradCAM(layer4) against explain    >= 4.0
  eval_over_forward     evaluation throughput (probs + CAM grids + focus stored) against batched
                        forward-only throughput at the same batch size                           >= 0.90
  eval_over_lane_forward  the same against forward-only in the evaluator's CPU lanes (no target: it
                        shows what decoding, focus, CAM and storing cost apart from the lanes' gain)
  reeval_speedup        first evaluation time over re-evaluation time of the same set            >= 100
  page_open_s_1000      server-side script time of the Hard set page on a stored 1,000-image set  <= 1.5 s
  peak_rss_gb_5000      peak resident memory of a 5,000-image evaluation (with --memory 5000)     <= 2.5 GB
  stage_*_ms            per-image cost of each stage alone (read, decode, preprocess, focus, forward, CAM tail,
                        the CAM's shares on the defocused blocks and the face, store write), so that a
                        regression names its stage (issue 19); stage_focus_photograph_ms: the focus measures
                        on a real photograph (scikit-image's astronaut at 640x480) instead of the drawn photos
The model is a random-init fastai vision_learner(resnet50, pretrained=False) at 256 px, like the seed's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
warnings.filterwarnings("ignore")

TARGETS = {"explain_over_forward": ("<=", 1.10), "naive_over_ours": (">=", 4.0), "eval_over_forward": (">=", 0.90),
           "reeval_speedup": (">=", 100.0), "peak_rss_gb_5000": ("<=", 2.5), "page_open_s_1000": ("<=", 1.5)}


def make_images(folder: Path, n: int, size=(640, 480), labelled: bool = False) -> list[Path]:
    from PIL import Image

    from conftest import draw_photo

    paths = []
    for i in range(n):
        sub = folder / (("fake", "real")[i % 2] if labelled else "")
        sub.mkdir(parents=True, exist_ok=True)
        p = sub / f"img_{i:05d}.jpg"
        Image.fromarray(draw_photo(10_000 + i, *size)).save(p, quality=90)
        paths.append(p)
    return paths


def bench(work: Path, repeat: int, n_eval: int, batch_size: int, eval_repeat: int = 3) -> dict:
    import torch
    from fastai.learner import load_learner
    from pytorch_grad_cam import GradCAM

    from conftest import export_learner
    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import cpu_lanes
    from facefake_core.imaging import load_photo
    from facefake_core.model import default_batch_size
    from facefake_core.evaluation import Store

    pkl = export_learner(work / "learner", size=256)
    model = load_model(str(pkl), device="cpu")
    batch_size = batch_size or default_batch_size(model.device)
    learn = load_learner(pkl, cpu=True)
    img = make_images(work / "single", 1)[0]
    x1 = model.prepare([load_photo(img)])
    out: dict = {"threads": torch.get_num_threads(), "cores": os.cpu_count(), "batch_size": batch_size}

    # explain vs one forward pass: interleaved, so that drift in machine load hits both alike
    t_fwd, t_exp, t_naive = [], [], []

    def forward():
        with torch.inference_mode():
            model.net(x1)

    def naive():
        with learn.no_bar():
            learn.predict(img)
        x = learn.dls.test_dl([img]).one_batch()[0].as_subclass(torch.Tensor)
        with GradCAM(model=learn.model, target_layers=[learn.model[0][-1]]) as cam:
            cam(input_tensor=x, targets=None)

    for fn in (forward, lambda: model.explain(img), naive):
        fn()
    for _ in range(repeat):
        for fn, acc in ((forward, t_fwd), (lambda: model.explain(img), t_exp), (naive, t_naive)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    fwd, exp, nav = (statistics.median(t) for t in (t_fwd, t_exp, t_naive))
    out.update(forward_ms=fwd * 1e3, explain_ms=exp * 1e3, naive_ms=nav * 1e3,
               explain_over_forward=exp / fwd, naive_over_ours=nav / exp)

    # evaluation vs batched forward-only throughput over the same images, paired and repeated: each repetition
    # times a forward-only pass over the whole set right before a fresh evaluation of it (new store), so that
    # drift in machine load hits both alike; the figure is the median of the per-pair ratios. The evaluator runs
    # CPU batches in parallel single-threaded lanes (facefake_core.evaluation.cpu_lanes), which forward faster than
    # one batch on all threads; forward-only in the same lanes is timed too, so that the cost of everything else
    # (decoding, focus, CAM, storing) is shown apart from that gain.
    paths = make_images(work / "set", n_eval, labelled=True)
    xs = prepared_batches(model, paths, batch_size)
    forward_batch(model, xs[0])
    lanes, threads = cpu_lanes() if model.device.type == "cpu" else (1, 0)
    runs = []
    for r in range(eval_repeat):
        t = time.perf_counter()
        for x in xs:
            forward_batch(model, x)
        t_fwd = time.perf_counter() - t
        t = time.perf_counter()
        forward_in_lanes(model, xs, lanes, threads)
        t_lanes = time.perf_counter() - t
        store = Store(work / f"store{r}.sqlite")
        t = time.perf_counter()
        ev = evaluate(model, work / "set", store=store, batch_size=batch_size)
        t_eval = time.perf_counter() - t
        assert ev.computed == n_eval and not ev.errors
        runs.append((n_eval / t_fwd, n_eval / t_lanes, n_eval / t_eval))
    t = time.perf_counter()
    again = evaluate(model, work / "set", store=store, batch_size=batch_size)
    t_re = time.perf_counter() - t
    assert again.computed == 0
    out.update(stage_costs(model, paths, batch_size, Store(work / "stages.sqlite")))
    fwd_ips, lanes_ips, eval_ips = (statistics.median(run[i] for run in runs) for i in range(3))
    out.update(lanes=lanes, threads_per_lane=threads, forward_batch_ips=fwd_ips, forward_lanes_ips=lanes_ips,
               eval_ips=eval_ips, eval_over_forward=statistics.median(e / f for f, _, e in runs),
               eval_over_forward_each=[round(e / f, 3) for f, _, e in runs],
               eval_over_lane_forward=statistics.median(e / f for _, f, e in runs),
               eval_s=n_eval / eval_ips, reeval_s=t_re, reeval_speedup=t_eval / t_re, n_eval=n_eval)
    return out


def stage_costs(model, paths: list[Path], batch_size: int, store) -> dict:
    """Per-image CPU costs of the evaluator's stages, each timed alone over the same images (ms per image):
    reading the bytes, decoding (EXIF and mode conversion included), fastai's preprocessing, the focus measures,
    the forward pass, the CAM's tail (after layer4: the head forward and backward for every class's CAM and the
    feature vector, on activations the front already computed), the CAM's shares on the defocused blocks and the
    face (as the evaluator works them out, ``cam_shares``), and the store write."""
    import numpy as np

    from facefake_core.imaging import decode, measure_focus, read_bytes
    from facefake_core.imaging.shares import cam_shares
    from facefake_core.model import predict_and_cam

    n = len(paths)
    t0 = time.perf_counter()
    data = [read_bytes(p) for p in paths]
    t1 = time.perf_counter()
    pixels = [decode(d, p.name)[0] for d, p in zip(data, paths)]
    t2 = time.perf_counter()
    items = [model.prep.item(px) for px in pixels]
    t3 = time.perf_counter()
    measures = [measure_focus(px) for px in pixels]
    t4 = time.perf_counter()
    photo = real_photo()  # the drawn photos are smooth, so the Haar cascade rejects their windows early
    for _ in range(n):
        measure_focus(photo)
    t4b = time.perf_counter()
    xs = [model.batch(items[i: i + batch_size]) for i in range(0, n, batch_size)]
    forward_batch(model, xs[0])
    t5 = time.perf_counter()
    for x in xs:
        forward_batch(model, x)
    t6 = time.perf_counter()
    fronts = [model.split().ran(x) for x in xs]  # the fronts (to layer4) once, untimed: the forward is timed above
    t6b = time.perf_counter()
    outs = [predict_and_cam(f, x, every_class=True) for f, x in zip(fronts, xs)]  # the tail as the evaluator runs it
    t7 = time.perf_counter()
    cams, per_class = (np.concatenate([getattr(o, k) for o in outs]) for k in ("raw_cam", "class_cams"))
    t7b = time.perf_counter()
    for px, cam, m in zip(pixels, cams, measures):
        h, w = px.shape[:2]
        cam_shares(cam, model.prep.crop_box(w, h), m)
    t7c = time.perf_counter()
    rows = [(f"{i:064x}", {"fake": 0.5, "real": 0.5}, cam, "layer4", None, every)
            for i, (cam, every) in enumerate(zip(cams, per_class))]
    t8 = time.perf_counter()
    for i in range(0, n, batch_size):
        store.put_results("stage-bench", rows[i: i + batch_size])
    t9 = time.perf_counter()
    ms = lambda a, b: (b - a) / n * 1e3  # noqa: E731
    return {"stage_read_ms": ms(t0, t1), "stage_decode_ms": ms(t1, t2), "stage_preprocess_ms": ms(t2, t3),
            "stage_focus_ms": ms(t3, t4), "stage_focus_photograph_ms": ms(t4, t4b), "stage_forward_ms": ms(t5, t6),
            "stage_cam_tail_ms": ms(t6b, t7), "stage_cam_shares_ms": ms(t7b, t7c),
            "stage_store_ms": ms(t8, t9), "stage_images": n, "stage_size": "x".join(map(str, pixels[0].shape[1::-1]))}


def real_photo(size=(640, 480)) -> np.ndarray:
    """A photograph of a person (scikit-image's ``astronaut``, 512x512 RGB), enlarged and centre-cropped to ``size``:
    the drawn benchmark photos' smooth areas let the Haar cascade reject most windows at once, a photo's texture
    does not, so the focus measures cost more on real photos."""
    import cv2
    import numpy as np
    from skimage import data

    w, h = size
    side = max(w, h)
    img = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (side - h) // 2, (side - w) // 2
    return np.ascontiguousarray(img[y0: y0 + h, x0: x0 + w])


def prepared_batches(model, paths: list[Path], batch_size: int) -> list:
    """The model's input batches of ``paths`` in order, ``batch_size`` photos each (prepared once, before timing)."""
    from facefake_core.imaging import load_photo

    return [model.prepare([load_photo(p) for p in paths[i: i + batch_size]]) for i in range(0, len(paths), batch_size)]


def forward_batch(model, x) -> None:
    import torch

    with torch.inference_mode():
        model.net(x)


def forward_in_lanes(model, xs, lanes: int, threads: int) -> None:
    """Forward-only over ``xs`` in ``lanes`` threads of ``threads`` torch threads each, as the evaluator runs."""
    import threading

    import torch

    if lanes <= 1:
        for x in xs:
            forward_batch(model, x)
        return
    caller = torch.get_num_threads()

    def lane(part):
        torch.set_num_threads(threads)
        for x in part:
            forward_batch(model, x)

    workers = [threading.Thread(target=lane, args=(xs[i::lanes],)) for i in range(lanes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    torch.set_num_threads(caller)


def peak_memory(work: Path, n: int, batch_size: int) -> dict:
    """Peak RSS of a whole evaluation of ``n`` images, in a fresh process (``ru_maxrss`` of the child)."""
    from conftest import export_learner

    pkl = export_learner(work / "mem_learner", size=256)
    make_images(work / "mem_set", n, size=(320, 240), labelled=True)
    code = ("import resource, sys; sys.path.insert(0, %r)\n"
            "from facefake_core import evaluate, load_model\nfrom facefake_core.evaluation import Store\n"
            "m = load_model(%r, device='cpu')\n"
            "ev = evaluate(m, %r, store=Store(%r), batch_size=%d or None)\n"
            "print(len(ev.rows), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            % (str(ROOT), str(pkl), str(work / "mem_set"), str(work / "mem.sqlite"), batch_size))
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rows, kb = map(int, res.stdout.split()[-2:])
    return {"peak_rss_gb_5000" if n == 5000 else f"peak_rss_gb_{n}": kb / 2**20, "memory_rows": rows,
            "memory_eval_s": time.perf_counter() - t}


def page_open(work: Path, n: int) -> dict:
    """Server-side script time of the Hard set page opening an already evaluated set of ``n`` images.

    The store is filled by a real evaluation first (with a small resnet18 learner at 64 px, since only the page's
    own work is timed); then a fresh AppTest session opens the set by deep link, as a shared URL would.
    """
    from streamlit.testing.v1 import AppTest

    from conftest import export_learner
    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import Store

    pkl = export_learner(work / "page_learner", arch_name="resnet18", size=64)
    make_images(work / "page_set", n, size=(160, 120), labelled=True)
    os.environ.update(FACEFAKE_MODEL=str(pkl), FACEFAKE_STORE=str(work / "page.sqlite"), HF_HUB_OFFLINE="1")
    evaluate(load_model(str(pkl), device="cpu"), work / "page_set", store=Store(work / "page.sqlite"))
    app = str(ROOT / "dashboard" / "app.py")
    times = []
    for _ in range(3):
        at = AppTest.from_file(app, default_timeout=600).run()  # loads the model (shared across sessions)
        at.switch_page("views/hard_set.py")
        at.query_params["set"] = str(work / "page_set")
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        shown = [c.value for c in at.caption if f"{n} images" in c.value]
        assert shown, "the Hard set page did not open the evaluated set"
    return {f"page_open_s_{n}": statistics.median(times)}


def verdict(name: str, value: float) -> str:
    if name not in TARGETS:
        return ""
    op, target = TARGETS[name]
    ok = value <= target if op == "<=" else value >= target
    return f"{'met' if ok else 'MISSED'} ({op} {target})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--repeat", type=int, default=15, help="timed repetitions per figure (medians)")
    ap.add_argument("--n-eval", type=int, default=64, help="images in the evaluation benchmark")
    ap.add_argument("--eval-repeat", type=int, default=5, help="paired forward-only/evaluation runs (median ratio)")
    ap.add_argument("--batch-size", type=int, default=0, help="images per batch (default: the evaluator's default)")
    ap.add_argument("--page", type=int, default=1000, metavar="N",
                    help="time the Hard set page opening an evaluated set of N images (0 skips)")
    ap.add_argument("--memory", type=int, default=0, metavar="N",
                    help="also measure the peak RSS of an N-image evaluation (5000 for the issue's figure)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["FACEFAKE_CACHE"] = str(work / "cache")
        figures = bench(work, args.repeat, args.n_eval, args.batch_size, args.eval_repeat)
        if args.page:
            figures.update(page_open(work, args.page))
        if args.memory:
            figures.update(peak_memory(work, args.memory, args.batch_size))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for k, v in figures.items():
            print(f"{k:>22}  {v:>10.3f}  {verdict(k, v)}" if isinstance(v, float) else f"{k:>22}  {str(v):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
