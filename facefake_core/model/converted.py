"""A pickle-free model format: ``model.safetensors`` (weights) plus ``model.json`` (what to build around them).

Loading it unpickles nothing: the network is rebuilt with fastai's ``create_vision_model`` from the torchvision
architecture named in the JSON (``pretrained=False``), the weights are read with safetensors, and the
preprocessing comes from the JSON. ``facefake convert MODEL OUT_DIR`` writes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from torch import nn

from ..errors import ModelLoadError
from .classifier import Model, build_model
from .preprocess import Preprocessing

FORMAT = "facefake-safetensors/1"
WEIGHTS, META = "model.safetensors", "model.json"


def _head_config(head: nn.Module) -> dict:
    """The ``create_head`` arguments that shape a fastai head (dropout values do not matter at inference)."""
    from fastai.layers import AdaptiveConcatPool2d

    mods = list(head.modules())[1:]
    linears = [m for m in mods if isinstance(m, nn.Linear)]
    flat = [m for m in head if not isinstance(m, nn.Sequential)] if isinstance(head, nn.Sequential) else mods
    first_lin = next(i for i, m in enumerate(flat) if isinstance(m, nn.Linear))
    return {
        "lin_ftrs": [m.out_features for m in linears[:-1]],
        "concat_pool": any(isinstance(m, AdaptiveConcatPool2d) for m in mods),
        "first_bn": any(isinstance(m, nn.BatchNorm1d) for m in flat[:first_lin]),
        "bn_final": isinstance(flat[-1], nn.BatchNorm1d),
    }


def convert(model: Model, out_dir: str | Path) -> Path:
    """Write ``model`` as safetensors + JSON into ``out_dir`` (created); returns the folder."""
    from safetensors.torch import save_file

    if not model.info.arch.startswith("resnet"):
        raise ModelLoadError(f"conversion supports torchvision ResNet bodies, not {model.info.arch}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.source_net.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    meta = {
        "format": FORMAT,
        "arch": model.info.arch,
        "vocab": list(model.vocab),
        "n_out": len(model.vocab),
        "head": _head_config(model.source_net[1]),
        "preprocessing": model.prep.to_dict(),
        "converted_from": {"source": model.info.source, "sha256": model.info.sha256},
    }
    (out / META).write_text(json.dumps(meta, indent=2))
    return out


def load_converted(folder: Path, *, source: str, device: str, notes=()) -> Model:
    """Rebuild a converted model without unpickling anything.

    Raises:
        ModelLoadError: missing files, an unknown format or architecture, or weights that do not fit.
    """
    import torchvision
    from fastai.vision.learner import create_vision_model
    from safetensors import SafetensorError
    from safetensors.torch import load_file


    try:
        meta = json.loads((folder / META).read_text())
        if meta.get("format") != FORMAT:
            raise ModelLoadError(f"{folder.name}: {META} is not a {FORMAT} description")
        arch_fn = getattr(torchvision.models, meta["arch"])
        net = create_vision_model(arch_fn, meta["n_out"], pretrained=False, **meta["head"])
        state = load_file(str(folder / WEIGHTS))
        net.load_state_dict(state, strict=True)
    except ModelLoadError:
        raise
    except FileNotFoundError as err:
        raise ModelLoadError(f"{folder.name}: missing {Path(err.filename).name}; a converted model has "
                             f"{META} and {WEIGHTS}") from None
    except (KeyError, AttributeError, json.JSONDecodeError, SafetensorError, RuntimeError, TypeError) as err:
        raise ModelLoadError(f"{folder.name}: not a loadable converted model ({str(err).splitlines()[0]})") from None
    digest = hashlib.sha256((folder / WEIGHTS).read_bytes() + (folder / META).read_bytes()).hexdigest()
    return build_model(net, meta["vocab"], Preprocessing.from_dict(meta["preprocessing"]), sha256=digest,
                       source=source, path=str(folder), load_method="safetensors", device=device, notes=notes)
