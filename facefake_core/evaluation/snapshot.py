"""A columnar copy of an evaluation, so that opening a set of 100,000 stored rows after a restart costs a ``stat`` per
file and one blob, not the manifest, the file hashes and every stored row.

:func:`~.runner.evaluate` writes the copy when it has finished a set with nothing left to do: every file read, every
row stored with its focus measures under the current rule, every class's CAM and its feature vector. The copy holds
the :class:`~.table.RowColumns` and each file's ``os.stat`` (size, mtime, inode, device) as the evaluation saw
them, and the manifest's own ``stat``. It is used only while all of these hold:

* the model's rows in the store are at the generation the copy was written at (:mod:`.schema`: triggers count
  every change to ``results``, ``class_cams`` and ``features``, whoever writes them), and SQLite's schema version
  is unchanged (a table dropped or created);
* a manifest's ``stat`` is unchanged (a folder is walked again, and its items must be the copy's);
* every file's ``stat`` is unchanged (so its content hash, and so its stored row, are too: the store's file-hash
  cache trusts size and mtime the same way; the inode also catches a file swapped for a link or another file);
* the focus rule is the one the copy was written under.

Otherwise ``evaluate`` takes its full path, and writes a new copy.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from ..imaging.focus import FOCUS_VERSION
from .hardset import HardSet, discover
from .store import Store
from .table import RowColumns

Stat = tuple[int, int, int, int]


def file_stat(path: str) -> Stat:
    """``(size, mtime_ns, inode, device)`` of a file, links followed (raises ``OSError``)."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


def source_stat(source: str) -> Stat | None:
    """A manifest's :func:`file_stat` (``None`` for a folder, or a source that cannot be read)."""
    try:
        return file_stat(source) if os.path.isfile(source) else None
    except OSError:
        return None


def _joined(texts: Sequence[str]) -> np.ndarray:
    # NUL never occurs in a path, nor in a CSV field the csv module reads
    return np.frombuffer("\0".join(texts).encode("utf-8", "surrogateescape"), np.uint8)


def _split(arr: np.ndarray, n: int) -> list[str]:
    return arr.tobytes().decode("utf-8", "surrogateescape").split("\0") if n else []


def save(store: Store, model_sha: str, source: str, generation: str, cols: RowColumns, stats: Sequence[Stat],
         manifest: Stat | None) -> None:
    """Store the copy of an evaluation of ``source`` whose rows are ``cols``, at the model's ``generation``.

    Args:
        stats: each row's :func:`file_stat`, taken before its content was hashed.
        manifest: the manifest's :func:`file_stat` taken before it was read, ``None`` for a folder.
    """
    if cols.items is not None or not len(cols):  # uneven manifest columns: the evaluation's own rows only
        return
    arrays = {"paths": _joined(cols.paths), "labels": _joined(cols.labels.tolist()), "styles": _joined(cols.styles),
              "shas": _joined(cols.shas), "classes": _joined(cols.classes), "meta_keys": _joined(list(cols.meta)),
              **{f"meta_{i}": _joined(v) for i, v in enumerate(cols.meta.values())}, "has_meta": cols.has_meta,
              "probs": cols.probs, "narrow": cols.narrow, "stats": np.array(stats, np.uint64).reshape(-1, 4),
              "manifest": np.array(manifest or (0, 0, 0, 0), np.uint64), "is_manifest": np.array(manifest is not None),
              "focus_version": np.array(FOCUS_VERSION), "n": np.array(len(cols))}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    store.put_columns_copy(model_sha, source, generation, buf.getvalue())


def load(store: Store, model_sha: str, source: str, vocab: Sequence[str]) -> RowColumns | None:
    """The columns of ``source``'s evaluation by the model from its copy, or ``None`` when there is none or it no
    longer holds (see the module's docstring)."""
    blob = store.get_columns_copy(model_sha, source)
    if blob is None:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    n = int(a["n"])
    if int(a["focus_version"]) != FOCUS_VERSION:
        return None
    if bool(a["is_manifest"]):
        if source_stat(source) != tuple(int(v) for v in a["manifest"]):
            return None
        hs = None
    else:
        hs = discover(source, vocab)  # a folder: new or removed files change its items
    paths = _split(a["paths"], n)
    try:
        now = np.array([(s.st_size, s.st_mtime_ns, s.st_ino, s.st_dev) for s in map(os.stat, paths)],
                       np.uint64).reshape(-1, 4)  # file_stat of each, without a call per file
    except OSError:
        return None
    if not np.array_equal(now, a["stats"]):
        return None
    keys = _split(a["meta_keys"], len(a["meta_keys"]))
    cols = RowColumns(paths, np.array(_split(a["labels"], n), dtype=str), _split(a["styles"], n),
                      {k: _split(a[f"meta_{i}"], n) for i, k in enumerate(keys)}, a["has_meta"],
                      _split(a["shas"], n), tuple(_split(a["classes"], 1)), a["probs"], a["narrow"])
    return cols if hs is None or _same_items(hs, cols) else None


def _same_items(hs: HardSet, cols: RowColumns) -> bool:
    """Whether a folder's items, walked again, are the rows of the copy (paths, labels, styles, manifest columns)."""
    return len(hs.items) == len(cols) and all(it == cols.item(i) and it.meta == cols.item(i).meta
                                              for i, it in enumerate(hs.items))
