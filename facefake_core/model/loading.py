"""From a local file or folder to a :class:`~facefake_core.model.classifier.Model`.

A learner pickle (``learn.export``) is read by the safe unpickler (:mod:`facefake_core.safeload`) unless
``trust=True``; a converted folder (:mod:`facefake_core.model.converted`) is rebuilt without unpickling anything.
What a source *string* means (``hf://``, ``demo:``, the default) is :mod:`facefake_core.sources`' business.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import ModelLoadError
from ..imaging.photo import file_sha256
from ..safeload import load_learner_safely
from .classifier import Model, build_model
from .converted import load_converted
from .network import pick_device
from .preprocess import Preprocessing


def _load_pickle(path: Path, trust: bool):
    """(learner, load_method, stubbed, remapped) for a learner pickle."""
    learn, report = load_learner_safely(path, trust=trust)
    return learn, report.method, tuple(report.stubbed), tuple(report.remapped)


def load_file(path: Path, *, source: str | None = None, trust: bool = False, device: str | None = None,
              notes: tuple[str, ...] = ()) -> Model:
    """Load a learner pickle or a converted model folder.

    Args:
        path: a ``.pkl`` from ``learn.export``, or a folder holding ``model.json`` and ``model.safetensors``.
        source: the source string the card records (default: the path).
        trust: allow fastai's own unrestricted unpickling (runs any code in the file). Never the default.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; ``None`` picks CUDA, then MPS, then CPU.
        notes: lines the model card carries (e.g. why this model is the default).

    Raises:
        ModelLoadError: with a one-line reason (:class:`~facefake_core.errors.UnsafeModelError` for a refused
            pickle).
    """
    path = Path(path)
    src = str(path) if source is None else source
    dev = str(pick_device(device))
    if path.is_dir():
        return load_converted(path, source=src, device=dev, notes=notes)
    learn, method, stubbed, remapped = _load_pickle(path, trust)
    try:
        net, vocab = learn.model, list(learn.dls.vocab)
    except Exception:  # noqa: BLE001 - a learner without dls.vocab fails in ways that depend on what it holds
        raise ModelLoadError(f"{path.name}: not a fastai vision classifier (its DataLoaders have no vocab)") from None
    if not isinstance(net, nn.Module):
        raise ModelLoadError(f"{path.name}: not a fastai vision learner (its model is a {type(net).__name__})")
    prep = Preprocessing.from_learner(learn)
    return build_model(net, vocab, prep, sha256=file_sha256(path), source=src, path=str(path), load_method=method,
                       device=dev, stubbed=stubbed, remapped=remapped, notes=notes, arch=getattr(learn, "arch", None))
