"""What a model source string means, and the model it names: :func:`load_model`.

This module sits above both :mod:`facefake_core.model` (loading a local file) and :mod:`facefake_core.demo`
(building the offline demo's rounds).

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

from .config import CONFIG, default_model_source
from . import demo
from .errors import ModelLoadError
from .model import Model, load_file
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
        rounds = demo.ensure_demo(progress=progress).models
        name = src.split(":", 1)[1]
        if name not in rounds:
            raise ModelLoadError(f"{src}: the demo has rounds {', '.join(rounds)}")
        return Path(rounds[name])
    p = Path(src).expanduser()
    if not p.exists():
        raise ModelLoadError(f"{src}: no such file; give a .pkl path, a converted model folder, or hf://OWNER/REPO/FILE")
    return p


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
    return load_file(resolve(src, progress), source=src, trust=trust, device=device, notes=notes)
