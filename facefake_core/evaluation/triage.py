"""What to do with triage marks (see :meth:`facefake_core.store.Store.set_mark`): export them as CSV, and gather
the images the model got wrong into a ``real/`` ``fake/`` folder of hard examples, ready for a fine-tune: copied
into a folder (local mode) or packed into a zip to download (public mode), with the same layout.

Marks are the store's form: image sha256 -> ``{"mark", "path", "label", "updated"}``.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Callable, Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MODEL_WRONG = "model wrong"
CSV_COLUMNS = ("image_sha", "path", "label", "mark", "updated")


@dataclass(frozen=True)
class CopyReport:
    """Result of :func:`copy_model_wrong`: the files written, and ``(path, reason)`` for those skipped."""

    copied: tuple[Path, ...]
    skipped: tuple[tuple[str, str], ...]


def marks_csv(marks: Mapping[str, Mapping], name: Callable[[str], str] | None = None) -> str:
    """The marks as CSV text with columns :data:`CSV_COLUMNS`, ordered by path; ``updated`` in ISO 8601 UTC.

    ``name`` rewrites each path (public pages pass one that names a file within its set, not on the server)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for sha, m in sorted(marks.items(), key=lambda kv: (str(kv[1].get("path") or ""), kv[0])):
        when = m.get("updated")
        stamp = "" if when is None else datetime.fromtimestamp(float(when), timezone.utc).isoformat(timespec="seconds")
        path = str(m.get("path") or "")
        writer.writerow([sha, name(path) if name and path else path, m.get("label") or "", m.get("mark") or "", stamp])
    return buf.getvalue()


def _model_wrong(marks: Mapping[str, Mapping], skipped: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
    """``(source file, "<label>/<sha12>_<name>")`` for each image marked "model wrong" that can be gathered; the
    others go to ``skipped`` as ``(path, reason)``."""
    for sha, m in sorted(marks.items(), key=lambda kv: str(kv[1].get("path") or "")):
        if m.get("mark") != MODEL_WRONG:
            continue
        src, label = Path(str(m.get("path") or "")), str(m.get("label") or "")
        if not label or Path(label).name != label or label in (".", ".."):
            skipped.append((str(src), f"no usable label ({label!r})"))
            continue
        if not src.is_file():
            skipped.append((str(src), "file no longer exists"))
            continue
        yield src, f"{label}/{sha[:12]}_{src.name}"


def copy_model_wrong(marks: Mapping[str, Mapping], out: str | Path) -> CopyReport:
    """Copy every image marked "model wrong" into ``out/<true label>/``.

    Files are named ``<first 12 hex of sha>_<original name>`` so that two sources with the same file name do not
    clash and a second run overwrites rather than duplicates. A source file that no longer exists is skipped
    (reported), never an error for the rest.

    Args:
        marks: image sha -> mark record, as :meth:`Store.marks` returns.
        out: the destination folder (created).

    Returns:
        A :class:`CopyReport`.
    """
    root = Path(out).expanduser()
    copied: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for src, rel in _model_wrong(marks, skipped):
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        copied.append(dest)
    return CopyReport(tuple(copied), tuple(skipped))


def zip_model_wrong(marks: Mapping[str, Mapping], name: Callable[[str], str] = lambda p: Path(p).name
                    ) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """The images marked "model wrong" as a zip with :func:`copy_model_wrong`'s layout (``<label>/<sha12>_<name>``).

    Args:
        marks: image sha -> mark record, as :meth:`Store.marks` returns.
        name: how a skipped file is named in the report (public pages pass a name that is not a server path).

    Returns:
        ``(zip bytes, ((name, reason), ...) of the files skipped)``.
    """
    skipped: list[tuple[str, str]] = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # photos are compressed already
        for src, rel in _model_wrong(marks, skipped):
            zf.write(src, rel)
    return buf.getvalue(), tuple((name(p), reason) for p, reason in skipped)
