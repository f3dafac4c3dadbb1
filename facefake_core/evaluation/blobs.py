"""The store's array blobs: float32 arrays as ``.npy`` bytes (what ``np.save`` writes), read back without numpy's
per-blob header parse (every CAM grid of a model has the same header, so a 100,000-row set is read in a fraction of
a second).
"""

from __future__ import annotations

import functools
import io
import math

import numpy as np


def to_npy(arr: np.ndarray | None) -> bytes | None:
    if arr is None:
        return None
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr, np.float32), allow_pickle=False)
    return buf.getvalue()


@functools.lru_cache(maxsize=64)
def _header(header: bytes) -> tuple[np.dtype, tuple[int, ...], str, int, int]:
    """``(dtype, shape, order, data offset, item count)`` of a .npy blob's header, parsed by numpy (once per
    distinct header: every CAM grid of a model has the same one)."""
    f = io.BytesIO(header)
    np.lib.format.read_magic(f)  # version 1.0, checked by the caller
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    return dtype, shape, "F" if fortran else "C", f.tell(), math.prod(shape)


def from_npy(blob: bytes | None) -> np.ndarray | None:
    """The array of a .npy blob, as ``np.load`` gives it (a writable copy); parsing numpy's header costs more than
    the data of a small grid, so parsed headers are kept (a 100,000-row set is read in a fraction of a second)."""
    if blob is None:
        return None
    if blob[6:7] != b"\x01" or len(blob) < 10:  # version 1.0 only (what np.save writes for small headers)
        return np.load(io.BytesIO(blob), allow_pickle=False)
    end = 10 + int.from_bytes(blob[8:10], "little")
    dtype, shape, order, offset, count = _header(blob[:end])
    if dtype.hasobject:
        return np.load(io.BytesIO(blob), allow_pickle=False)  # refused there, with numpy's own error
    return np.frombuffer(blob, dtype, count, offset).reshape(shape, order=order).copy(order="K")
