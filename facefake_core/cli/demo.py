"""The offline demo and training: ``demo build`` and ``finetune``."""

from __future__ import annotations

from ..demo import build_demo
from ..sources import default_source, resolve
from ..training import finetune
from ._common import add_common, emit


def cmd_demo_build(args, progress) -> int:
    paths = build_demo(args.out, progress=progress, force=args.force)
    emit(args, paths.to_json(), "demo ready:\n" + "\n".join(
        [f"  {k}: {v}" for k, v in paths.to_json()["models"].items()] + [f"  hard set: {paths.hardset}"]))
    return 0


def cmd_finetune(args, progress) -> int:
    src = resolve(args.model or default_source()[0], progress)
    out = finetune(src, args.data_dir, args.out, epochs=args.epochs, defocus_aug=args.defocus_aug,
                   progress=progress)
    emit(args, {"out": str(out)}, f"fine-tuned learner written to {out}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
    demo = sub.add_parser("demo", help="the offline demo: synthetic portraits and two model rounds")
    dsub = demo.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    p = dsub.add_parser("build", help="build (or check) the demo data and models; 6-7 minutes on 2 idle cores")
    p.add_argument("--out", default=None, help="folder (default: the cache's demo folder)")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid build exists")
    p.add_argument("--json", action="store_true", help="print {models: {...}, hardset} as JSON")
    p.set_defaults(func=cmd_demo_build)

    p = sub.add_parser("finetune", help="the seed's fine-tune recipe on a folder of real/ and fake/ images")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder with one subfolder per class")
    p.add_argument("--out", required=True, metavar="FILE.pkl")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--defocus-aug", action="store_true",
                   help="add random background defocus blur and JPEG re-encoding to training (the demo's fix)")
    add_common(p)
    p.set_defaults(func=cmd_finetune)
