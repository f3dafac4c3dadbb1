"""Depth-of-field commands: ``dof`` (no model) and ``counterfactual`` (P(fake) before and after an edit)."""

from __future__ import annotations

from ..errors import FacefakeError
from ..evaluation import positive_class
from ..imaging import edit, load_photo, measure_focus
from ._common import add_common, emit, load


def cmd_dof(args, progress) -> int:
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
    emit(args, out, "\n".join(lines))
    return 1 if failed else 0


def cmd_counterfactual(args, progress) -> int:
    kind, value = next((k, v) for k, v in (("blur_background", args.blur_background),
                                           ("sharpen_background", args.sharpen_background),
                                           ("jpeg", args.jpeg), ("rescale", args.rescale)) if v is not None)
    model = load(args, progress)
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
    pos = positive_class(model.vocab)
    lines = [f"{o['path']}: error: {o['error']}" if "error" in o else
             f"{o['path']}: P({pos}) {o['before'][pos]:.3f} -> {o['after'][pos]:.3f} after {kind}={value}" for o in out]
    emit(args, out, "\n".join(lines))
    return 1 if failed else 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
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
