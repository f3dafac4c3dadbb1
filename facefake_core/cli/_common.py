"""What every command shares: the progress bars, printing text or JSON, loading ``--model``, and the common options."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from typing import Iterator

from ..model import Model
from ..progress import Progress
from ..sources import load_model

MODEL_HELP = ("model source: a .pkl path, a converted model folder, hf://OWNER/REPO/FILE[@REV], or demo:round0 / "
              "demo:round1 (default: $FACEFAKE_MODEL, else the seed's hub model if reachable, else the offline demo)")


@contextmanager
def bars(enabled: bool) -> Iterator:
    """A ``progress(done, total, what)`` callback drawing tqdm bars on stderr (one bar per ``what``)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int, what: str) -> None:
        if not enabled:
            return
        bar = bars.get(what)
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = bars[what] = tqdm(total=total, desc=what, unit="img" if "eval" in what else "step",
                                    file=sys.stderr, leave=True, dynamic_ncols=True)
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()


def emit(args: argparse.Namespace, data, text: str) -> None:
    """``data`` as JSON on stdout with ``--json``, else ``text``."""
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def load(args: argparse.Namespace, progress: Progress) -> Model:
    """The model ``--model`` names (or the default), with its notes on stderr."""
    model = load_model(args.model, trust=args.trust_pickle, device=args.device, progress=progress)
    for note in model.info.notes:
        print(f"note: {note}", file=sys.stderr)
    return model


def add_common(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--json``, ``--trust-pickle`` and ``--device``: every model command has them."""
    p.add_argument("--model", metavar="SRC", default=None, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a .pkl with fastai's own unpickler, which runs any code inside it; only for files "
                        "you trust")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")
