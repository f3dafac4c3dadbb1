"""Commands on a labelled hard set: ``evaluate``."""

from __future__ import annotations

from ..config import CONFIG
from ..evaluation import Store, evaluate
from ._common import add_common, emit, load


def cmd_evaluate(args, progress) -> int:
    model = load(args, progress)
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
    emit(args, data, text)
    return 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
    p = sub.add_parser("evaluate", help="evaluate a labelled hard set (folder of class subfolders, or CSV)")
    p.add_argument("source", metavar="DIR_OR_CSV")
    p.add_argument("--threshold", type=float, default=CONFIG.threshold, help="decision threshold on P(fake)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per forward pass (default: 4 on the CPU, 32 on a GPU)")
    p.add_argument("--store", default=None, help=f"results database (default: {CONFIG.store_path})")
    p.add_argument("--no-focus", action="store_true", help="skip the depth-of-field measures")
    add_common(p)
    p.set_defaults(func=cmd_evaluate)
