"""Full demo build, timed, then each round's accuracy per style on the demo hard set.

Usage::

    .venv/bin/python benchmarks/demo_acceptance.py [--out DIR] [--force] [--scale full]

Prints the build time (and the load average, since the machine is shared), a table like the seed's
(Round | Style | Real Accuracy | Fake Accuracy) and whether the demo shows what it must:

* round0: fake accuracy on studio at least 25 points below casual; real accuracy >= 70% on both styles;
* round1: closes at least half of round0's casual-studio fake gap; real accuracy still >= 70% on both.

Evaluation uses fastai directly (``test_dl`` + ``get_preds``), not the project's evaluator. Exit status 0
when every criterion holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastai.callback.progress  # noqa: E402,F401  (patches Learner.no_bar)
import torch  # noqa: E402
from fastai.learner import load_learner  # noqa: E402
from tqdm import tqdm  # noqa: E402

from facefake_core.demo import build_demo  # noqa: E402
from facefake_core.demo import MANIFEST_NAME  # noqa: E402


def _bar_progress() -> tuple:
    """A progress callback that shows one tqdm bar per stage, and the seconds each stage took."""
    bars: dict[str, tqdm] = {}
    seconds: dict[str, float] = {}

    def progress(done: int, total: int, what: str) -> None:
        bar = bars.get(what)
        if bar is None:
            bar = bars[what] = tqdm(total=total, desc=what, leave=True, mininterval=2)
            seconds[what] = time.perf_counter()  # the first report comes after the first item
        bar.update(done - bar.n)
        if done >= total and not bar.disable:
            seconds[what] = time.perf_counter() - seconds[what]
            bar.close()

    return progress, seconds


def evaluate(model: Path, hardset: Path) -> dict[str, dict[str, float]]:
    """Accuracy (%) per style and label: ``{style: {"real": acc, "fake": acc}}``."""
    with open(hardset / MANIFEST_NAME, newline="") as f:
        rows = list(csv.DictReader(f))
    learn = load_learner(model, cpu=True)
    dl = learn.dls.test_dl([hardset / r["path"] for r in rows], bs=32, num_workers=0)
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=dl)
    preds = [learn.dls.vocab[i] for i in probs.argmax(1).tolist()]
    out: dict[str, dict[str, float]] = {}
    for style in sorted({r["style"] for r in rows}):
        out[style] = {}
        for label in ("real", "fake"):
            hits = [p == r["label"] for p, r in zip(preds, rows) if r["style"] == style and r["label"] == label]
            out[style][label] = 100.0 * sum(hits) / len(hits)
    return out


def criteria(acc: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, bool]]:
    r0, r1 = acc["round0"], acc["round1"]
    gap0 = r0["casual"]["fake"] - r0["studio"]["fake"]
    gap1 = r1["casual"]["fake"] - r1["studio"]["fake"]
    return [
        (f"round0 studio fake accuracy >= 25 points below casual (gap {gap0:.1f})", gap0 >= 25),
        ("round0 real accuracy >= 70% on both styles", min(r0[s]["real"] for s in r0) >= 70),
        (f"round1 closes >= half the gap (gap {gap1:.1f} <= {gap0 / 2:.1f})", gap1 <= gap0 / 2),
        ("round1 real accuracy >= 70% on both styles", min(r1[s]["real"] for s in r1) >= 70),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="demo folder (default: a new temporary folder)")
    ap.add_argument("--force", action="store_true", help="rebuild every stage")
    ap.add_argument("--scale", default="full")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = args.out or Path(tempfile.mkdtemp(prefix="facefake-demo-"))
    load0 = os.getloadavg()
    progress, stage_s = _bar_progress()
    t0 = time.perf_counter()
    paths = build_demo(out, scale=args.scale, progress=progress, force=args.force)
    build_s = time.perf_counter() - t0
    load1 = os.getloadavg()
    print(f"build: {build_s:.0f} s in {out}  (load average before {load0[0]:.1f}, after {load1[0]:.1f}, "
          f"15-min {load1[2]:.1f})")
    print("stages (first item to last): " + ", ".join(f"{k} {v:.0f} s" for k, v in stage_s.items()))
    t1 = time.perf_counter()
    acc = {name: evaluate(path, paths.hardset) for name, path in paths.models.items()}
    print(f"evaluation: {time.perf_counter() - t1:.0f} s\n")
    print("| Round | Style | Real Accuracy | Fake Accuracy |\n|---|---|---|---|")
    for name, per_style in acc.items():
        for style, a in per_style.items():
            print(f"| {name} | {style} | {a['real']:.1f}% | {a['fake']:.1f}% |")
    checks = criteria(acc)
    print()
    for text, ok in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {text}")
    if args.json:
        result = {"build_s": build_s, "stages_s": stage_s, "load": [load0, load1], "accuracy": acc,
                  "paths": paths.to_json()}
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
