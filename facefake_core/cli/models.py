"""Commands on one model and single images: ``info``, ``predict``, ``explain``, ``convert``."""

from __future__ import annotations

from pathlib import Path

from ..config import CONFIG
from ..errors import FacefakeError
from ..imaging import COLORMAPS, cam_overlay, load_photo, png_bytes
from ..analysis import faithfulness, sanity
from ..model import CAM_METHODS, convert
from ._common import add_common, emit, load


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def cmd_info(args, progress) -> int:
    info = load(args, progress).info.to_dict()
    emit(args, info, "\n".join(f"{k:>14}: {v}" for k, v in info.items()))
    return 0


def cmd_predict(args, progress) -> int:
    model = load(args, progress)
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
    emit(args, out, "\n".join(lines))
    return 1 if failed else 0


def cmd_explain(args, progress) -> int:
    model = load(args, progress)
    e = model.explain(args.image, method=args.method, target=args.target, layer=args.layer)
    drawn = cam_overlay(e.photo, e.raw_cam, e.crop_box, alpha=args.alpha, colormap=args.colormap,
                        outline=not args.no_box)
    Path(args.out).write_bytes(png_bytes(drawn))
    data = e.to_dict() | {"path": args.image, "out": args.out}
    text = (f"{args.image}: {e.label} (P({e.label})={e.probs[e.label]:.3f}); {e.method} for {e.target} on "
            f"{e.layer} written to {args.out}, crop box {e.crop_box}")
    if args.faithfulness:
        if args.layer not in (None, model.info.target_layer):
            raise ValueError("--faithfulness scores the model's default CAM layer; drop --layer")
        fill = load_photo(args.fill) if args.fill else None
        f = faithfulness(model, load_photo(args.image), args.target, args.method, fill=fill)
        data["faithfulness"] = f["faithfulness"]
        if fill is not None:
            data["faithfulness_fill"] = f["fill"]
        for name, block in (("ROAD", f["faithfulness"]), ("fill", f["fill"])):
            if block:
                text += (f"\n{name} score {block['road_combined']:+.3f} logit (random map "
                         f"{block['baselines']['random']:+.3f}, Sobel edges {block['baselines']['sobel']:+.3f})")
    if args.sanity:
        if args.layer not in (None, model.info.target_layer):
            raise ValueError("--sanity checks the model's default CAM layer; drop --layer")
        s = sanity(model, load_photo(args.image), args.target, args.method)
        data["sanity"] = s["sanity"]
        data["sanity_verdict"] = s["verdict"]
        steps = ", ".join(f"{r['randomized']} {_num(r['spearman'])} / {_num(r['ssim'])}" for r in s["sanity"])
        text += f"\ncascading randomisation (Spearman / SSIM against the original map): {steps}"
        text += f"\n{s['verdict']}" if s["verdict"] else ""
    emit(args, data, text)
    return 0


def cmd_convert(args, progress) -> int:
    model = load(args, progress)
    folder = convert(model, args.out_dir)
    emit(args, {"source": model.info.source, "out": str(folder)},
           f"wrote {folder}/model.safetensors and model.json; load it with --model {folder}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the main parser's subparsers."""
    p = sub.add_parser("info", help="describe the model (architecture, vocab, input size, sha256, CAM layer)")
    add_common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", help="classify images; one JSON object per input, in order")
    p.add_argument("images", nargs="+", metavar="IMG")
    add_common(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="write a CAM heatmap overlay at the photo's upright size")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where to write the overlay PNG")
    p.add_argument("--method", default=CONFIG.cam_method, choices=list(CAM_METHODS))
    p.add_argument("--target", default=None,
                   help="class to explain (default: the predicted class), or margin: the fake logit minus the real one")
    p.add_argument("--layer", default=None, help="layer1..layer4 for ResNets (default: layer4)")
    p.add_argument("--alpha", type=float, default=CONFIG.overlay_alpha, help="heatmap opacity, 0..1")
    p.add_argument("--colormap", default=CONFIG.colormap, choices=list(COLORMAPS))
    p.add_argument("--no-box", action="store_true", help="do not outline the region the model saw")
    p.add_argument("--faithfulness", action="store_true",
                   help="score the map with ROAD (remove the most / least relevant 20-80%% of pixels) against a random "
                        "map and a Sobel edge map; in logit units, higher is more faithful")
    p.add_argument("--sanity", action="store_true",
                   help="cascading randomisation: re-initialise the head, then layer4, layer3 ... and compare each map "
                        "with the original (Spearman, SSIM); a map that stays alike does not depend on the weights")
    p.add_argument("--fill", metavar="IMG", default=None,
                   help="with --faithfulness: also score a removal that fills from this photo (say, a real one) "
                        "instead of ROAD's smoothing")
    add_common(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("convert", help="write a model as safetensors + JSON (loads without unpickling)")
    p.add_argument("model", metavar="MODEL", help="the model to convert (same forms as --model)")
    p.add_argument("out_dir", metavar="OUT_DIR")
    add_common(p)
    p.set_defaults(func=cmd_convert)
