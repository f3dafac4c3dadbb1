"""The upload area: what visitors upload (sets, models) lives in one folder, under a size quota, and is deleted
after a time the operator sets.

Each visitor writes under ``<root>/<visitor folder>/<kind>/<entry>`` (kind: ``sets``, ``models``), so one visitor's
uploads are never another's. An entry's age is its own modification time (a reused upload is touched).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import QuotaError


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def visitor_folder_name(visitor: str) -> str:
    """A file-system-safe folder name for a visitor key (its digest: the key itself never becomes a path)."""
    return hashlib.sha256(visitor.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class UploadArea:
    """``root`` holds every visitor's uploads; together they stay under ``quota_bytes``, each at most ``ttl_s`` old.

    Args:
        root: the folder (created on first write).
        quota_bytes: the size quota of everything under ``root``.
        ttl_s: seconds after which an entry is deleted by :meth:`sweep`.
    """

    root: Path
    quota_bytes: int
    ttl_s: float

    def visitor_dir(self, visitor: str) -> Path:
        """This visitor's own folder (not created)."""
        return self.root / visitor_folder_name(visitor)

    def used(self) -> int:
        """Bytes under the root."""
        return _size(self.root) if self.root.exists() else 0

    def sweep(self, now: float | None = None) -> int:
        """Delete every entry older than ``ttl_s``, then folders left empty; returns how many entries went."""
        if not self.root.is_dir():
            return 0
        now = time.time() if now is None else now
        gone = 0
        for visitor in [p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]:
            for kind in [p for p in visitor.iterdir() if p.is_dir() and not p.is_symlink()]:
                for entry in list(kind.iterdir()):
                    if now - entry.lstat().st_mtime > self.ttl_s:
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                        gone += 1
                if not any(kind.iterdir()):
                    kind.rmdir()
            if not any(visitor.iterdir()):
                visitor.rmdir()
        return gone

    def touch(self, entry: Path) -> None:
        """Mark an entry as used now (a re-upload of the same content reuses it), so :meth:`sweep` keeps it."""
        if entry.exists():
            entry.touch()

    def reserve(self, incoming: int) -> None:
        """Make sure ``incoming`` more bytes fit: sweep expired uploads first, then check the quota.

        Raises:
            QuotaError: they do not fit (one line, no path).
        """
        self.sweep()
        used = self.used()
        if used + incoming > self.quota_bytes:
            mb = 1024**2
            raise QuotaError(f"the upload area is full ({used / mb:.0f} of {self.quota_bytes / mb:.0f} MB used; "
                             f"this upload needs {incoming / mb:.1f} MB); uploads are deleted after "
                             f"{self.ttl_s / 3600:g} h, try again later or upload less")
