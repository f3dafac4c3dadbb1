"""``python -m facefake_core`` / ``facefake``: the core's functions on the command line.

Every subcommand takes ``--model SRC`` (see ``facefake_core.loading``) and ``--json``. Errors the package
expects are printed as one line and exit with status 2; a batch with some unreadable inputs exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .config import CONFIG
from .errors import FacefakeError

MODEL_HELP = ("model source: a .pkl path, a converted model folder, hf://OWNER/REPO/FILE[@REV], or demo:round0 / "
              "demo:round1 (default: $FACEFAKE_MODEL, else the seed's hub model if reachable, else the offline demo)")


@contextmanager
def _bars(enabled: bool) -> Iterator:
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


def _emit(args: argparse.Namespace, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _load(args: argparse.Namespace, progress):
    from .loading import load_model

    model = load_model(args.model, trust=args.trust_pickle, device=args.device, progress=progress)
    for note in model.info.notes:
        print(f"note: {note}", file=sys.stderr)
    return model


def cmd_info(args, progress) -> int:
    info = _load(args, progress).info.to_dict()
    _emit(args, info, "\n".join(f"{k:>14}: {v}" for k, v in info.items()))
    return 0


def cmd_predict(args, progress) -> int:
    from .images import load_photo

    model = _load(args, progress)
    out, failed = [], 0
    for i, path in enumerate(args.images):
        try:
            out.append(model.predict_batch([load_photo(path)])[0].to_dict() | {"path": path})
        except FacefakeError as err:
            failed += 1
            out.append({"path": path, "error": str(err)})
        progress(i + 1, len(args.images), "predicting")
    lines = [f"{o['path']}: error: {o['error']}" if "error" in o else
             f"{o['path']}: {o['label']}  " + "  ".join(f"P({k})={v:.3f}" for k, v in o["probs"].items()) for o in out]
    _emit(args, out, "\n".join(lines))
    return 1 if failed else 0


def cmd_explain(args, progress) -> int:
    from .render import overlay, png_bytes

    model = _load(args, progress)
    e = model.explain(args.image, method=args.method, target=args.target, layer=args.layer)
    Path(args.out).write_bytes(png_bytes(overlay(e.photo, e.heatmap, args.alpha, args.colormap,
                                                 None if args.no_box else e.crop_box)))
    data = e.to_dict() | {"path": args.image, "out": args.out}
    _emit(args, data, f"{args.image}: {e.label} (P({e.target})={e.probs[e.target]:.3f}); {e.method} on "
                      f"{e.layer} written to {args.out}, crop box {e.crop_box}")
    return 0


def cmd_evaluate(args, progress) -> int:
    from .evaluation import evaluate
    from .store import Store

    model = _load(args, progress)
    ev = evaluate(model, args.source, store=Store(args.store) if args.store else None, batch_size=args.batch_size,
                  progress=progress, with_focus=not args.no_focus)
    m = ev.metrics(args.threshold)
    data = ev.to_dict(args.threshold)
    table = "\n".join(f"  {k}: {v:.1%}" if v is not None else f"  {k}: n/a" for k, v in m.seed_table().items())
    cm = "\n".join(f"  {t:>8} " + " ".join(f"{c:>6}" for c in row) for t, row in zip(m.labels, m.confusion.tolist()))
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    text = (f"{m.n} images ({ev.computed} computed, {ev.reused} from the store), {len(ev.errors)} unreadable\n"
            f"confusion (rows true, cols predicted: {' '.join(m.labels)}):\n{cm}\n{table}\n"
            f"  AUC {fmt(m.auc)}  AP {fmt(m.ap)}  EER {fmt(m.eer)}  at threshold {m.threshold}")
    text += "".join(f"\nerror: {r.error}" for r in ev.errors)
    _emit(args, data, text)
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="SRC", default=None, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load a .pkl with fastai's own unpickler, which runs any code inside it; only for files "
                        "you trust")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: CUDA, then MPS, then CPU)")


def build_parser() -> argparse.ArgumentParser:
    from .explain import CAM_METHODS
    from .render import COLORMAPS

    parser = argparse.ArgumentParser(
        prog="facefake", description="Explain a fastai real/fake face classifier: predict, Grad-CAM heatmaps, "
        "hard-set evaluation, depth-of-field analysis.",
        epilog="Examples:\n  facefake info --model demo:round0\n  facefake predict a.jpg b.jpg --json\n"
               "  facefake explain a.jpg --out a_cam.png\n  facefake evaluate hardset/ --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="describe the model (architecture, vocab, input size, sha256, CAM layer)")
    _add_common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", help="classify images; one JSON object per input, in order")
    p.add_argument("images", nargs="+", metavar="IMG")
    _add_common(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="write a CAM heatmap overlay at the photo's upright size")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where to write the overlay PNG")
    p.add_argument("--method", default=CONFIG.cam_method, choices=list(CAM_METHODS))
    p.add_argument("--target", default=None, help="class to explain (default: the predicted class)")
    p.add_argument("--layer", default=None, help="layer1..layer4 for ResNets (default: layer4)")
    p.add_argument("--alpha", type=float, default=CONFIG.overlay_alpha, help="heatmap opacity, 0..1")
    p.add_argument("--colormap", default=CONFIG.colormap, choices=list(COLORMAPS))
    p.add_argument("--no-box", action="store_true", help="do not outline the region the model saw")
    _add_common(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("evaluate", help="evaluate a labelled hard set (folder of class subfolders, or CSV)")
    p.add_argument("source", metavar="DIR_OR_CSV")
    p.add_argument("--threshold", type=float, default=CONFIG.threshold, help="decision threshold on P(fake)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per forward pass (default: 4 on the CPU, 32 on a GPU)")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    p.add_argument("--no-focus", action="store_true", help="skip the depth-of-field measures")
    _add_common(p)
    p.set_defaults(func=cmd_evaluate)

    from . import cli_extra

    cli_extra.add_commands(sub, _add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show = not getattr(args, "json", False) or sys.stderr.isatty()
    try:
        with _bars(show) as progress:
            return args.func(args, progress)
    except FacefakeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished results are stored", file=sys.stderr)
        return 130
