"""From a model source string to a :class:`~facefake_core.model.Model`.

A source is one of:

* a local learner pickle: ``path/to/round2_final.pkl`` (loaded by the safe unpickler unless ``trust=True``);
* a converted, pickle-free model folder holding ``model.json`` and ``model.safetensors``;
* a Hugging Face file: ``hf://OWNER/REPO/FILE[@REVISION]``, fetched with ``hf_hub_download`` into the normal hub
  cache, so ``HF_HUB_OFFLINE=1`` with a filled cache works;
* ``demo:round0`` / ``demo:round1``: the offline demo's models (built on first use).

With no source, :func:`default_source` picks ``FACEFAKE_MODEL``, else the seed's hub model when it is cached or
the hub answers within ``CONFIG.hub_timeout_s``, else the offline demo's round0.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .config import CONFIG, default_model_source
from .errors import ModelLoadError
from .images import file_sha256
from .model import Model, ModelInfo, describe_arch, layer_names, pick_device
from .preprocess import Preprocessing
from .progress import Progress

_HF = re.compile(r"^hf://(?P<repo>[^/@\s]+/[^/@\s]+)/(?P<file>[^@\s]+?)(?:@(?P<rev>[^@\s]+))?$")


@dataclass(frozen=True)
class HubRef:
    repo: str
    filename: str
    revision: str | None = None


def parse_hub(src: str) -> HubRef | None:
    """``hf://OWNER/REPO/FILE[@REV]`` to a :class:`HubRef`; ``None`` for anything else."""
    m = _HF.match(src.strip())
    return HubRef(m["repo"], m["file"], m["rev"]) if m else None


def fetch_hub(ref: HubRef, local_only: bool = False) -> Path:
    """Download (or find in the hub cache) one file of a Hugging Face repo.

    Raises:
        ModelLoadError: offline cache miss, unknown repo, file or revision, or a network failure.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"hf://{ref.repo}/{ref.filename}" + (f"@{ref.revision}" if ref.revision else "")
    try:
        return Path(hf_hub_download(ref.repo, ref.filename, revision=ref.revision, local_files_only=local_only))
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"{where} is not in the local hub cache and the hub cannot be reached; connect to the internet, "
            "unset HF_HUB_OFFLINE, or name a local .pkl with --model") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"{where}: repository {ref.repo} does not exist or is private") from None
    except RevisionNotFoundError:
        raise ModelLoadError(f"{where}: revision {ref.revision} does not exist in {ref.repo}") from None
    except EntryNotFoundError:
        raise ModelLoadError(f"{where}: repository {ref.repo} has no file {ref.filename}") from None
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{where}: download failed ({str(err).splitlines()[0] if str(err) else err})") from None


def hub_reachable(timeout: float = CONFIG.hub_timeout_s) -> bool:
    """Whether huggingface.co accepts a TCP connection within ``timeout`` seconds (DNS included)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    ok = threading.Event()

    def probe() -> None:
        try:
            socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
            ok.set()
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return ok.is_set()


def default_source() -> tuple[str, str]:
    """The model to use when none is named, and why, e.g. ``("demo:round0", "hub unreachable")``."""
    named = default_model_source()
    if named:
        return named, "FACEFAKE_MODEL"
    ref = parse_hub(CONFIG.hub_model)
    assert ref is not None
    try:
        fetch_hub(ref, local_only=True)
        return CONFIG.hub_model, "hub model (cached)"
    except ModelLoadError:
        pass
    if hub_reachable():
        return CONFIG.hub_model, "hub model"
    return "demo:round0", "the Hugging Face hub is unreachable, so the offline demo's round0 is used"


def resolve(src: str, progress: Progress | None = None) -> Path:
    """A source string to a local file or folder (downloading or building it if needed)."""
    ref = parse_hub(src)
    if ref is not None:
        return fetch_hub(ref)
    if src.startswith("demo:"):
        from .demo import ensure_demo

        rounds = ensure_demo(progress=progress).models
        name = src.split(":", 1)[1]
        if name not in rounds:
            raise ModelLoadError(f"{src}: the demo has rounds {', '.join(rounds)}")
        return Path(rounds[name])
    p = Path(src).expanduser()
    if not p.exists():
        raise ModelLoadError(f"{src}: no such file; give a .pkl path, a converted model folder, or hf://OWNER/REPO/FILE")
    return p


def _load_pickle(path: Path, trust: bool):
    """(learner, load_method, stubbed, remapped) for a learner pickle."""
    try:
        from .safeload import load_learner_safely
    except ImportError:  # safe loading not installed in this build: refuse rather than unpickle blindly
        load_learner_safely = None
    if load_learner_safely is not None:
        learn, report = load_learner_safely(path, trust=trust)
        return learn, report.method, tuple(report.stubbed), tuple(report.remapped)
    if not trust:
        raise ModelLoadError(f"{path.name}: safe loading is unavailable; pass --trust-pickle to unpickle it anyway")
    from fastai.learner import load_learner

    try:
        return load_learner(path, cpu=True), "trusted-pickle", (), ()
    except Exception as err:  # fastai raises anything a pickle can; report it on one line
        raise ModelLoadError(f"{path.name}: not a loadable fastai learner ({type(err).__name__}: {err})") from None


def load_model(src: str | os.PathLike | None = None, *, trust: bool = False, device: str | None = None,
               progress: Progress | None = None) -> Model:
    """Load a classifier from a source string (see the module docstring).

    Args:
        src: the source; ``None`` uses :func:`default_source`.
        trust: allow fastai's own unrestricted unpickling (runs any code in the file). Never the default.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``...; ``None`` picks CUDA, then MPS, then CPU.
        progress: called as ``progress(done, total, what)`` while a demo is built or a file fetched.

    Raises:
        ModelLoadError: with a one-line reason (:class:`UnsafeModelError` for a refused pickle).
    """
    notes: tuple[str, ...] = ()
    if src is None:
        src, why = default_source()
        notes = (f"default model: {why}",)
    src = str(src)
    path = resolve(src, progress)
    dev = str(pick_device(device))
    if path.is_dir():
        from .convert import load_converted

        return load_converted(path, source=src, device=dev, notes=notes)
    learn, method, stubbed, remapped = _load_pickle(path, trust)
    try:
        net, vocab = learn.model, list(learn.dls.vocab)
        if not (isinstance(net, nn.Sequential) and len(net) == 2):
            raise TypeError
    except Exception:
        raise ModelLoadError(f"{path.name}: not a fastai vision learner (expected model = Sequential(body, head))") from None
    prep = Preprocessing.from_learner(learn)
    return build_model(net, vocab, prep, sha256=file_sha256(path), source=src, path=str(path), load_method=method,
                       device=dev, stubbed=stubbed, remapped=remapped, notes=notes)


def build_model(net, vocab, prep: Preprocessing, *, sha256: str, source: str, path: str, load_method: str,
                device: str, stubbed=(), remapped=(), notes=()) -> Model:
    """Wrap a network with its card; the one place a :class:`Model` is assembled."""
    try:
        layers = layer_names(net)
        arch = describe_arch(net)
    except (TypeError, IndexError, AttributeError):
        raise ModelLoadError(f"{Path(path).name}: not a fastai vision model (no convolutional body)") from None
    if not layers:
        raise ModelLoadError(f"{Path(path).name}: the model's body has no convolutional layer to explain")
    info = ModelInfo(arch=arch, vocab=tuple(map(str, vocab)), input_size=prep.size, resize_method=prep.method,
                     pad_mode=prep.pad_mode, sha256=sha256, source=source, path=path,
                     target_layer=list(layers)[-1], layers=tuple(layers), load_method=load_method, device=device,
                     stubbed=tuple(stubbed), remapped=tuple(remapped), notes=tuple(notes))
    return Model(net, vocab, prep, info)
