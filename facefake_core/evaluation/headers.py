"""The derived slice columns that come from the files' headers alone: ``format``, ``size`` (a bucket of the photo's
short side) and ``jpeg_quality`` (a bucket of the quality estimated from the quantisation tables; ``not JPEG``
otherwise). File facts come from :func:`facefake_core.imaging.fileinfo.file_info`, read once per image and kept in
the store; the columns of a whole set are kept there too, so that a page opening 100,000 rows reads one blob.
:func:`~.runner.evaluate` works them out when it finishes a set (:mod:`facefake_core.analysis.slices` slices by them).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ImageLoadError
from ..imaging.fileinfo import FileInfo, file_info
from ..progress import Progress
from .rows import Evaluation
from .store import Store

#: Short-side edges (px) of the size buckets.
SIZE_EDGES = (256, 512, 1024)
#: Lower edges of the JPEG quality buckets.
QUALITY_EDGES = (70, 85, 95)


def size_bucket(width: int, height: int) -> str:
    """``"<256 px"``, ``"256-511 px"``, ``"512-1023 px"`` or ``">=1024 px"`` by the short side."""
    side, lo = min(width, height), 0
    for edge in SIZE_EDGES:
        if side < edge:
            return f"<{edge} px" if lo == 0 else f"{lo}-{edge - 1} px"
        lo = edge
    return f">={SIZE_EDGES[-1]} px"


def quality_bucket(quality: int | None) -> str:
    """``"not JPEG"``, ``"q<70"``, ``"q70-84"``, ``"q85-94"`` or ``"q95-100"``."""
    if quality is None:
        return "not JPEG"
    lo = 0
    for edge in QUALITY_EDGES:
        if quality < edge:
            return f"q<{edge}" if lo == 0 else f"q{lo}-{edge - 1}"
        lo = edge
    return f"q{QUALITY_EDGES[-1]}-100"


def file_infos(ev: Evaluation, store: Store | None = None, workers: int = 4, progress: Progress | None = None,
               chunk: int = 512) -> dict[str, FileInfo | None]:
    """Header facts of every row's file, by image sha (``None`` for a file that can no longer be read); read once
    and kept in ``store``. ``progress(done, total, "reading file headers")`` after each ``chunk`` files read."""
    shas = dict(zip(ev.column("image_sha"), ev.column("path")))
    known = {h: FileInfo(**d) for h, d in (store.get_file_info(list(shas)) if store else {}).items()}

    def one(item: tuple[str, str]) -> tuple[str, FileInfo | None]:
        try:
            return item[0], file_info(item[1])
        except ImageLoadError:
            return item[0], None

    todo, fresh = [(h, p) for h, p in shas.items() if h not in known], {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(0, len(todo), chunk):
            fresh.update(pool.map(one, todo[i: i + chunk]))
            if progress:
                progress(len(fresh), len(todo), "reading file headers")
    if store is not None and fresh:
        store.put_file_info([(h, i.to_dict()) for h, i in fresh.items() if i is not None])
    return {**known, **fresh}


def header_columns(ev: Evaluation, store: Store, progress: Progress | None = None) -> dict[str, list[str]]:
    """The derived columns ``format``, ``size`` and ``jpeg_quality`` of every row (``""`` for a file that can no
    longer be read), in row order: the facts SQLite picks out of the store, the missing ones read by
    :func:`file_infos` (and stored). They depend on the images' content alone, so the columns themselves are kept in
    the store under a digest of the rows' image hashes (and the bucket edges): a set opened again reads one blob.
    ``progress`` hears about the headers read (see :func:`file_infos`)."""
    shas = ev.column("image_sha")
    key = "headers:" + hashlib.sha256(repr((SIZE_EDGES, QUALITY_EDGES, shas)).encode()).hexdigest()
    if (blob := store.get_derived(key)) is not None:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            return {k: z[f"{k}_values"][z[f"{k}_codes"]].tolist() for k in ("format", "size", "jpeg_quality")}
    out = _header_columns(ev, store, shas, progress)
    if all(out["format"]):  # every file read: nothing that a later read could add
        coded = {}
        for k, v in out.items():
            values, codes = np.unique(np.array(v, dtype=str), return_inverse=True)
            coded.update({f"{k}_values": values, f"{k}_codes": codes.astype(np.int32)})
        buf = io.BytesIO()
        np.savez(buf, **coded)
        store.put_derived(key, buf.getvalue())
    return out


def _header_columns(ev: Evaluation, store: Store, shas: list[str], progress: Progress | None) -> dict[str, list[str]]:
    facts = store.file_facts(shas, ("format", "width", "height", "jpeg_quality"))
    if len(facts) < len(set(shas)):
        fresh = file_infos(ev.take([i for i, h in enumerate(shas) if h not in facts]), store, progress=progress)
        facts.update({h: (i.format, i.width, i.height, i.jpeg_quality) for h, i in fresh.items() if i is not None})
    return bucket_columns([facts.get(h) for h in shas])


def bucket_columns(facts: Sequence[tuple | None]) -> dict[str, list[str]]:
    """The slice table's ``format``, ``size`` and ``jpeg_quality`` columns from each row's header facts
    ``(format, width, height, jpeg_quality)`` (``None``: the file could not be read, ``""`` in every column)."""
    buckets = {f: (f[0], size_bucket(f[1], f[2]), quality_bucket(f[3])) for f in set(facts) if f is not None}
    per_row = [buckets[f] if f is not None else ("", "", "") for f in facts]  # a set holds few distinct facts
    return dict(zip(("format", "size", "jpeg_quality"), ([c[k] for c in per_row] for k in range(3))))
