"""Depth-of-field commands: ``dof`` (no model) and ``counterfactual`` (P(fake) before and after an edit)."""

from __future__ import annotations

from pathlib import Path

from ..errors import FacefakeError
from ..evaluation import positive_class
from ..imaging import edit, focus_overlay, load_photo, measure_focus, png_bytes
from ._common import add_common, emit, load


def cmd_dof(args, progress) -> int:
    out, failed, names = [], 0, set()
    if args.out:
        try:
            Path(args.out).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"--out {args.out}: cannot make the folder ({err.strerror or err})") from None
    for i, path in enumerate(args.images):
        row = {"path": path}
        out.append(row)
        try:
            pixels = load_photo(path).pixels
            m = measure_focus(pixels)
            row.update(m.to_dict())
            if args.out:  # what the verdict saw, as the Depth of field page shows it
                name = Path(path).stem if Path(path).stem not in names else f"{Path(path).stem}_{i}"
                names.add(name)
                picture = Path(args.out) / f"{name}_focus.png"
                picture.write_bytes(png_bytes(focus_overlay(pixels, m)))
                row["picture"] = str(picture)
        except FacefakeError as err:
            failed += 1
            row["error"] = str(err)
        except OSError as err:  # the picture could not be written; the measures stand
            failed += 1
            row["error"] = f"cannot write the picture ({err.strerror or err})"
        progress(i + 1, len(args.images), "measuring focus")
    lines = [f"{o['path']}: error: {o['error']}" if "error" in o else
             f"{o['path']}: narrow_dof={o['narrow_dof']} dof_score={o['dof_score']:.2f} face={o['face_source']} "
             f"face_sharpness={o['face_sharpness']:.2f} background_sharpness={o['background_sharpness']:.2f}"
             + (f" picture={o['picture']}" if "picture" in o else "") for o in out]
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
    p.add_argument("--out", metavar="DIR", help="also write what each verdict saw to DIR/<name>_focus.png: the "
                   "defocused blocks tinted blue, the in-focus subject box green, the cascade's face box white")
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
