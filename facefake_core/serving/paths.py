"""Which server paths a request may touch, and how a path is named to a visitor.

* :func:`readable` resolves a typed path and, when roots are set (``FACEFAKE_ROOTS``), requires it to lie under
  one of them (symlinks are resolved first, so a link cannot lead out).
* :func:`writable_folder` also refuses the project's own folders: its source tree, the cache, the demo and the
  upload area.
* :func:`public_name` names a file relative to the set it belongs to, never by its absolute path, and
  :func:`redact` rewrites every absolute path in a message to its last part, for public pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..config import CONFIG
from ..errors import AccessError

#: The repository (or installed) folder that holds ``facefake_core`` (and, in a checkout, ``dashboard``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_SEGMENT = r"[^\s/'\"`,;:()\[\]]+"
_ABSOLUTE = re.compile(rf"(?<![\w.:/~])~?/(?:{_SEGMENT}/)*({_SEGMENT})/?")


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def readable(text: str | Path, roots: Sequence[Path] = ()) -> Path:
    """The typed path, resolved; when ``roots`` are given it must lie under one of them.

    Raises:
        AccessError: the path is outside every root (one line, naming the path as typed).
    """
    path = Path(text).expanduser().resolve()
    if roots and not any(_under(path, Path(r).resolve()) for r in roots):
        raise AccessError(f"{text}: outside the folders this server allows (FACEFAKE_ROOTS)")
    return path


def project_folders() -> tuple[Path, ...]:
    """Folders that belong to facefake itself: the source tree, the cache, the demo and the upload area. (The
    results store is a file that may sit in any folder, so its folder is not one of them.)"""
    return tuple(dict.fromkeys(p.expanduser().resolve() for p in (
        PROJECT_ROOT, CONFIG.cache_dir, CONFIG.demo_dir, CONFIG.upload_dir)))


def writable_folder(text: str | Path, roots: Sequence[Path] = ()) -> Path:
    """A folder that files may be written into: under the roots (if any) and in none of :func:`project_folders`.

    Raises:
        AccessError: outside the roots, or inside one of the project's own folders.
    """
    path = readable(text, roots)
    if any(_under(path, own) for own in project_folders()):
        raise AccessError(f"{text}: one of facefake's own folders (source, cache, demo or uploads); choose another")
    return path


def public_name(path: str | Path, bases: Iterable[str | Path] = ()) -> str:
    """``path`` relative to the first of ``bases`` that holds it, else its last part (never an absolute path)."""
    p = Path(path)
    for base in bases:
        b = Path(base)
        try:
            rel = p.relative_to(b if b.is_dir() or not b.suffix else b.parent)
        except ValueError:
            continue
        if rel.parts:
            return rel.as_posix()
    return p.name or "file"


def redact(message: str) -> str:
    """The message with every absolute path (``/a/b/c.png``, ``~/x/y``) shortened to its last part."""
    return _ABSOLUTE.sub(lambda m: m.group(1), message)
