"""Commands on a labelled hard set: ``evaluate`` (with calibration and slices), ``robustness``, ``audit`` and
``faithfulness`` (which CAM method is most faithful for the model, on the set's errors)."""

from __future__ import annotations

from ..analysis import (
    DEFAULT_EDITS, EDITS, FAITHFULNESS_METHODS, audit, check_methods, diagnose, errors_sample, header_columns,
    method_table, parse_edit, robustness, slice_columns, slice_metrics, slice_report,
)
from ..config import CONFIG
from ..evaluation import Store, discover, evaluate
from ..model import PRECISIONS
from ._common import add_common, emit, load

_fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731


def _label_map(text: str | None) -> dict[str, str] | None:
    """``"0=fake,1=real"`` -> ``{"0": "fake", "1": "real"}``."""
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"--labels {text}: give VALUE=CLASS pairs, as 0=fake,1=real")
    return {k.strip(): v.strip() for k, v in pairs}


def hard_set(args, vocab):
    """The set named on the command line, with ``--split``, ``--label-column`` and ``--labels`` applied."""
    return discover(args.source, vocab, split=args.split, label_column=args.label_column,
                    label_map=_label_map(args.labels))


def _add_set_options(p) -> None:
    p.add_argument("source", metavar="DIR_OR_CSV", help="a folder with one subfolder per class, or a CSV manifest")
    p.add_argument("--split", default=None, help="with train/, valid/ and test/ under one folder: the one to use")
    p.add_argument("--label-column", default=None,
                   help="the manifest's class column (default: label_str if present, else label)")
    p.add_argument("--labels", default=None, metavar="V=CLASS,...",
                   help="map numeric labels to classes, e.g. 0=fake,1=real (Kaggle's 140k set)")


def _diagnoses(ev, whole: dict, slices: dict, threshold: float) -> list[str]:
    neg = next(v for v in ev.vocab if v != ev.positive)
    out = [diagnose(whole, threshold, "", ev.positive, neg)]
    out += [diagnose(s, threshold, f" on {col} = {value}", ev.positive, neg)
            for col, values in slices.items() for value, s in values.items()]
    return [d for d in out if d]


def cmd_evaluate(args, progress) -> int:
    model = load(args, progress).variant(args.precision, args.compile)
    store = Store(args.store) if args.store else Store()
    ev = evaluate(model, hard_set(args, model.vocab), store=store, batch_size=args.batch_size, progress=progress,
                  with_focus=not args.no_focus, engine=args.engine, address=args.address)
    m = ev.metrics(args.threshold)
    # the slice columns as the Hard set page reads them (evaluate stored their header columns)
    cols = slice_columns(ev, headers=header_columns(ev, store)) if ev.rows else {}
    slices = slice_report(ev, args.threshold, ci=not args.no_ci, cols=cols) if ev.rows else {}
    data = {**ev.to_dict(args.threshold), "slices": slices}
    table = "\n".join(f"  {k}: {v:.1%}" if v is not None else f"  {k}: n/a" for k, v in m.seed_table().items())
    cm = "\n".join(f"  {t:>8} " + " ".join(f"{c:>6}" for c in row) for t, row in zip(m.labels, m.confusion.tolist()))
    cal, best = data["calibration"], data["best_threshold"]
    text = (f"{m.n} images ({ev.computed} computed, {ev.reused} from the store), {len(ev.errors)} unreadable\n"
            f"confusion (rows true, cols predicted: {' '.join(m.labels)}):\n{cm}\n{table}\n"
            f"  AUC {_fmt(m.auc)}  AP {_fmt(m.ap)}  EER {_fmt(m.eer)}  at threshold {m.threshold}\n"
            f"  ECE {_fmt(cal['ece'])}  Brier {_fmt(cal['brier'])}  best threshold {_fmt(best['threshold'])}")
    if ev.rows:
        whole = slice_metrics([r.label for r in ev.rows], ev.p_pos(), ev.vocab, args.threshold, ci=False)
        text += "".join(f"\n{d}" for d in _diagnoses(ev, whole, slices, args.threshold))
    for col, values in slices.items():
        text += f"\nslices by {col}:" + "".join(
            f"\n  {v:<14} n={s['n']:<5} AUC {_fmt(s['auc'])}  " + "  ".join(
                f"{c} {_fmt(a)}" for c, a in s["per_class_accuracy"].items()) for v, s in values.items())
    text += "".join(f"\nerror: {r.error}" for r in ev.errors)
    emit(args, data, text)
    return 0


def cmd_robustness(args, progress) -> int:
    edits = dict(parse_edit(e) for e in args.edit) if args.edit else dict(DEFAULT_EDITS)
    model = load(args, progress)
    store = Store(args.store) if args.store else Store()
    ev = evaluate(model, hard_set(args, model.vocab), store=store, progress=progress)
    cols = slice_columns(ev, headers=header_columns(ev, store))
    out = robustness(model, ev, edits, store=store, threshold=args.threshold, slices=cols,
                     batch_size=args.batch_size, progress=progress)
    lines = [f"{out['n']} images; AUC and accuracy per class at threshold {args.threshold:g}:"]
    for c in out["curves"]:
        name = "none" if c["edit"] == "none" else f"{c['edit']}={c['value']:g}"
        lines.append(f"  {name:<20} AUC {_fmt(c['auc'])}  " + "  ".join(
            f"{k} {_fmt(a)}" for k, a in c["per_class_accuracy"].items()) + "  mean P(fake) " + "  ".join(
            f"{k} {_fmt(p)}" for k, p in c["mean_p_fake"].items()))
    lines += [f"error: {e['error']}" for e in out["errors"]]
    emit(args, out, "\n".join(lines))
    return 1 if out["errors"] else 0


def cmd_audit(args, progress) -> int:
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    hs = hard_set(args, classes)
    out = audit([(it.path, it.label) for it in hs.items], positive=classes[0])
    lines = [f"metadata_auc {_fmt(out['metadata_auc'])} (a random forest on format, size, bytes, JPEG quality and "
             "subsampling alone, cross-validated)"]
    for label, s in out["classes"].items():
        q = "n/a" if s["jpeg_quality"] is None else f"{s['jpeg_quality']['median']:.0f}"
        lines.append(f"  {label}: n={s['n']} format {s['format']} median {s['width']['median']:.0f}x"
                     f"{s['height']['median']:.0f} px, {s['file_bytes']['median'] / 1024:.0f} KiB, JPEG quality "
                     f"{q}, subsampling {s['subsampling']}")
    if out["warning"]:
        lines.append(f"warning: {out['warning']}")
    emit(args, out, "\n".join(lines))
    return 0


def cmd_faithfulness(args, progress) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    check_methods(methods)  # before any model work
    model = load(args, progress)
    store = Store(args.store) if args.store else Store()
    ev = evaluate(model, hard_set(args, model.vocab), store=store, progress=progress)
    table = method_table(model, errors_sample(ev, args.n, args.threshold), methods, target=args.target,
                         progress=progress)
    lines = [f"ROAD (logit of the explained class: {table.target}) on {table.scores['image'].nunique()} "
             f"images, the most wrong errors at threshold {args.threshold:g}; most faithful first:"]
    for r in table.summary.itertuples():
        beats = "" if r.beats_random is None else f"  beats random {r.beats_random:.0%}, sobel {r.beats_sobel:.0%}"
        lines.append(f"  {r.method:<12} mean {r.mean:+.3f}  median {r.median:+.3f}{beats}")
    lines.append(f"most faithful: {table.best or 'n/a'}")
    lines += [f"error: {e}" for _, e in table.skipped]
    emit(args, table.to_dict(), "\n".join(lines))
    return 1 if table.skipped else 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
    p = sub.add_parser("evaluate", help="evaluate a labelled hard set (folder of class subfolders, or CSV)")
    _add_set_options(p)
    p.add_argument("--threshold", type=float, default=CONFIG.threshold, help="decision threshold on P(fake)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per forward pass (default: 4 on the CPU, 64 on CUDA, 32 on MPS)")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    p.add_argument("--no-focus", action="store_true", help="skip the depth-of-field measures (a fast first pass: a later run "
                   "without it adds them with no model work)")
    p.add_argument("--no-ci", action="store_true", help="skip the slices' bootstrap confidence intervals")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help='where the model work runs: this process, or Ray (needs pip install "ray[data]==2.60.0"); '
                        "either way only this process writes the store")
    p.add_argument("--address", default=None, metavar="HOST:6379",
                   help="with --engine ray: an existing Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    p.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                   help="opt-in autocast precision (default fp32); fp16/bf16 change the numbers slightly and are "
                        "stored apart, under the model's sha256 + '+bf16' (see docs/performance.md, 'Large sets')")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (opt-in; compiles first, results stored apart under '+compile')")
    add_common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("robustness", help="metrics of the whole set under JPEG, blur, downscaling, background blur",
                       description="Apply each edit at each value to every image of both classes and report AUC, AP, "
                       "per-class accuracy and mean P(fake) per class (and per slice). The first point, edit 'none', "
                       "is the unedited set. Results are stored: a second run does no model work.")
    _add_set_options(p)
    p.add_argument("--edit", action="append", metavar="NAME=V1,V2",
                   help=f"an edit and its values, repeatable; names: {', '.join(EDITS)} (default: " + "; ".join(
                       f"{k}=" + ",".join(f"{v:g}" for v in vs) for k, vs in DEFAULT_EDITS.items()) + ")")
    p.add_argument("--threshold", type=float, default=CONFIG.threshold, help="decision threshold on P(fake)")
    p.add_argument("--batch-size", type=int, default=None, help="edited images per forward pass")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    add_common(p)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("audit", help="shortcut audit: can the files alone (format, size, JPEG quality) tell the classes "
                                     "apart? (no model)")
    _add_set_options(p)
    p.add_argument("--classes", default="fake,real", help="the set's classes, the one to catch first (default: fake,real)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("faithfulness", help="which CAM method is most faithful for the model: ROAD of each method "
                                            "on the set's errors, against random and Sobel yardsticks",
                       description="Evaluate the set (stored results are reused), take its N most wrong errors (the "
                       "highest-loss images when there are none) and score every CAM method's map of each by "
                       "ROADCombined(percentiles 20-80) against a RandomCAM and a Sobel-edge map. Scores are in logit "
                       "units; higher is more faithful.")
    _add_set_options(p)
    p.add_argument("--n", type=int, default=8, help="images to score (default: 8; about 65 forward passes each)")
    p.add_argument("--methods", default=",".join(FAITHFULNESS_METHODS),
                   help=f"comma-separated CAM methods (default: {','.join(FAITHFULNESS_METHODS)}; ablationcam is slow)")
    p.add_argument("--target", default=None,
                   help="the class the maps explain (a class name, or margin); default: each image's predicted class")
    p.add_argument("--threshold", type=float, default=CONFIG.threshold, help="decision threshold on P(fake)")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    add_common(p)
    p.set_defaults(func=cmd_faithfulness)
