"""Turning widget values into what the core takes: hub sources, uploaded folders and model files written to
disk, round names, and images as data URIs. Plain functions, no Streamlit (tested in
``tests/test_dashboard_inputs.py``).

Uploads are written once per content (folders named by a digest); ``reserve(n_bytes)``, when given, is asked for
room first (public mode's quota) and only when something new is written, so a rerun never counts an upload twice.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from facefake_core import CONFIG
from facefake_core.sources import parse_hub

COMPLETE = ".complete"
Reserve = Callable[[int], None]


def upload_root() -> Path:
    """Where uploads are written by default (``CONFIG.upload_dir``: ``FACEFAKE_UPLOAD_DIR`` or the temp folder)."""
    return CONFIG.upload_dir


def hub_source(text: str) -> str:
    """``OWNER/REPO/FILE[@REV]`` (with or without ``hf://``) as a model source.

    Raises:
        ValueError: the text is empty or not of that form.
    """
    t = text.strip()
    src = t if t.startswith("hf://") else f"hf://{t}"
    if not t or parse_hub(src) is None:
        raise ValueError(f"{t or 'nothing typed'}: give OWNER/REPO/FILE[@REVISION], "
                         "e.g. BA-Baracus/face-fake-or-not-v1/round2_final.pkl")
    return src


def safe_relpath(name: str) -> PurePosixPath:
    """An uploaded file's name (a path inside the picked folder, as the browser sends it) as a safe relative path.

    Raises:
        ValueError: the name is empty or climbs out with ``..``.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{name!r}: not a path inside the uploaded folder")
    return PurePosixPath(*parts)


def save_folder_upload(files: Sequence[tuple[str, bytes]], root: Path | None = None,
                       reserve: Reserve | None = None) -> Path:
    """Write a folder upload to disk, keeping each file's path inside the folder.

    The destination is named by a digest of the names and contents, so a rerun finds it already written. When
    every file sits under one top folder (the folder the user picked), that folder is returned.

    Args:
        files: ``(relative name, bytes)`` pairs, as ``st.file_uploader(accept_multiple_files="directory")`` gives.
        root: parent of the destination (default: :func:`upload_root` ``/ "sets"``).
        reserve: asked for room (bytes) before anything new is written; raises to refuse.

    Returns:
        The folder to evaluate.

    Raises:
        ValueError: no files, or a name that is not a safe relative path.
    """
    if not files:
        raise ValueError("the uploaded folder holds no files")
    rels = [safe_relpath(name) for name, _ in files]
    digest = hashlib.sha256()
    for rel, data in sorted((str(r), hashlib.sha256(d).digest()) for r, (_, d) in zip(rels, files)):
        digest.update(rel.encode() + b"\0" + data)
    dest = (root or upload_root() / "sets") / digest.hexdigest()[:16]
    if not (dest / COMPLETE).exists():
        if reserve is not None:
            reserve(sum(len(d) for _, d in files))
        for rel, (_, data) in zip(rels, files):
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (dest / COMPLETE).touch()  # also marks a reused upload as used now, so expiry keeps it
    dest.touch()
    tops = {r.parts[0] for r in rels}
    if len(tops) == 1 and all(len(r.parts) > 1 for r in rels):
        return dest / tops.pop()
    return dest


def save_model_upload(name: str, data: bytes, root: Path | None = None, reserve: Reserve | None = None) -> Path:
    """Write an uploaded learner pickle to a file named by its content hash; returns the path.

    Raises:
        ValueError: the name does not end in ``.pkl`` or the file is empty.
    """
    base = Path(name.replace("\\", "/")).name
    if not base.lower().endswith(".pkl"):
        raise ValueError(f"{base}: upload a fastai learner exported as .pkl")
    if not data:
        raise ValueError(f"{base}: the uploaded file is empty")
    dest = (root or upload_root() / "models") / hashlib.sha256(data).hexdigest()[:16] / base
    if not dest.exists():
        if reserve is not None:
            reserve(len(data))
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    dest.parent.touch()
    return dest


def round_name(source: str) -> str:
    """A short name for a model source: ``round0`` for ``demo:round0``, the file name (and revision) otherwise."""
    if source.startswith("demo:"):
        return source.split(":", 1)[1]
    ref = parse_hub(source)
    if ref is not None:
        return Path(ref.filename).name + (f"@{ref.revision}" if ref.revision else "")
    return Path(source.rstrip("/\\")).name or source


def round_names(sources: Sequence[str]) -> list[str]:
    """Distinct short names for several sources, in order (a repeated name gets `` (2)``, `` (3)`` ...)."""
    out: list[str] = []
    for src in sources:
        name, k = round_name(src), 2
        while name in out:
            name = f"{round_name(src)} ({k})"
            k += 1
        out.append(name)
    return out


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """Bytes as a ``data:`` URI (what ``st.column_config.ImageColumn`` shows)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
