"""Subcommands beyond the core four: dof, counterfactual, convert, demo build, finetune."""

from __future__ import annotations

import json


def _print(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def cmd_dof(args, progress) -> int:
    from .errors import FacefakeError
    from .focus import measure_focus
    from .images import load_photo

    out, failed = [], 0
    for i, path in enumerate(args.images):
        try:
            out.append({"path": path, **measure_focus(load_photo(path).pixels).to_dict()})
        except FacefakeError as err:
            failed += 1
            out.append({"path": path, "error": str(err)})
        progress(i + 1, len(args.images), "measuring focus")
    lines = [f"{o['path']}: error: {o['error']}" if "error" in o else
             f"{o['path']}: narrow_dof={o['narrow_dof']} dof_score={o['dof_score']:.2f} face={o['face_source']} "
             f"face_sharpness={o['face_sharpness']:.2f} background_sharpness={o['background_sharpness']:.2f}"
             for o in out]
    _print(args, out, "\n".join(lines))
    return 1 if failed else 0


def cmd_counterfactual(args, progress) -> int:
    from .cli import _load
    from .errors import FacefakeError
    from .images import load_photo
    from .probe import edit

    kind, value = next((k, v) for k, v in (("blur_background", args.blur_background),
                                           ("sharpen_background", args.sharpen_background),
                                           ("jpeg", args.jpeg), ("rescale", args.rescale)) if v is not None)
    model = _load(args, progress)
    out, failed = [], 0
    for i, path in enumerate(args.images):
        try:
            photo = load_photo(path)
            before, after = model.predict_batch([photo, edit(photo, kind, value)])
            out.append({"path": path, "edit": {kind: value}, "before": before.probs, "after": after.probs})
        except FacefakeError as err:
            failed += 1
            out.append({"path": path, "error": str(err)})
        progress(i + 1, len(args.images), "counterfactual")
    pos = model.vocab[0] if "fake" not in model.vocab else "fake"
    lines = [f"{o['path']}: error: {o['error']}" if "error" in o else
             f"{o['path']}: P({pos}) {o['before'][pos]:.3f} -> {o['after'][pos]:.3f} after {kind}={value}" for o in out]
    _print(args, out, "\n".join(lines))
    return 1 if failed else 0


def cmd_convert(args, progress) -> int:
    from .cli import _load
    from .convert import convert

    model = _load(args, progress)
    folder = convert(model, args.out_dir)
    _print(args, {"source": model.info.source, "out": str(folder)},
           f"wrote {folder}/model.safetensors and model.json; load it with --model {folder}")
    return 0


def cmd_demo_build(args, progress) -> int:
    from .demo import build_demo

    paths = build_demo(args.out, progress=progress, force=args.force)
    _print(args, paths.to_json(), "demo ready:\n" + "\n".join(
        [f"  {k}: {v}" for k, v in paths.to_json()["models"].items()] + [f"  hard set: {paths.hardset}"]))
    return 0


def cmd_finetune(args, progress) -> int:
    from .finetune import finetune
    from .loading import resolve

    src = resolve(args.model, progress) if args.model else None
    if src is None:
        from .loading import default_source

        src = resolve(default_source()[0], progress)
    out = finetune(src, args.data_dir, args.out, epochs=args.epochs, defocus_aug=args.defocus_aug,
                   progress=progress)
    _print(args, {"out": str(out)}, f"fine-tuned learner written to {out}")
    return 0


def add_commands(sub, add_common) -> None:
    """Register the extra subcommands on the main parser's subparsers."""
    p = sub.add_parser("dof", help="depth-of-field measures: face box, sharpness, narrow_dof flag (no model)")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of text")
    p.set_defaults(func=cmd_dof)

    p = sub.add_parser("counterfactual", help="P(fake) before and after one edit of each image")
    p.add_argument("images", nargs="+", metavar="IMG")
    edits = p.add_mutually_exclusive_group(required=True)
    edits.add_argument("--blur-background", type=float, metavar="SIGMA",
                       help="Gaussian-blur everything outside the face by SIGMA pixels")
    edits.add_argument("--sharpen-background", type=float, metavar="AMOUNT",
                       help="unsharp-mask everything outside the face")
    edits.add_argument("--jpeg", type=int, metavar="Q", help="re-encode as JPEG at quality Q")
    edits.add_argument("--rescale", type=float, metavar="F", help="downscale by F, then back up")
    add_common(p)
    p.set_defaults(func=cmd_counterfactual)

    p = sub.add_parser("convert", help="write a model as safetensors + JSON (loads without unpickling)")
    p.add_argument("model", metavar="MODEL", help="the model to convert (same forms as --model)")
    p.add_argument("out_dir", metavar="OUT_DIR")
    add_common(p)
    p.set_defaults(func=cmd_convert)

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
