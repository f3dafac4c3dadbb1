"""Perceptual hashes: a signature of an image's content that survives re-encoding, resizing and slight crops, for
finding near-duplicate files (the same portrait in a training folder and a hard set) whatever a model makes of them.

A model's feature vector is the wrong tool for that: a detector's last layer is about the traces a generator leaves,
and a resize or a crop wipes those traces, so copies land as far from their original as strangers do
(docs/embedding-map.md). The hash here depends on the pixels alone, so it is computed once per image sha and stored.

* **The hash** is imagehash's DCT hash (``imagehash.phash``, ``hash_size=16``: 256 bits, the signs of the 16x16
  lowest frequencies of the grey image shrunk to 64x64, against their median). Resizing and JPEG move a few bits.
* **Crops** move many bits (a crop rescales the content within the frame), so each image also keeps the hashes of
  :data:`CROP_VARIANTS`, crops of itself: 1-6% off every side, and 2, 4 or 6% off two adjacent sides. A copy cropped
  by about that much hashes like one of its original's variants.
* **The distance** of two images is the fewest bits in which one's plain hash differs from any of the other's
  variants, either way round (:func:`hash_pairs`). ``CONFIG.near_duplicate_hamming`` is the threshold.

Images are RGB ``uint8`` ``(H, W, 3)``; hashes are ``uint8`` ``(V, 32)``, the 256 bits of each variant packed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

#: Bumped whenever the hash or the variants change, so stored hashes from older code are computed again.
HASH_VERSION = 1
HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE
#: Images with a short side of at least twice this are first shrunk by a whole factor to about this size.
SHRINK_TO = 256
#: Crops hashed besides the whole image, as (left, top, right, bottom) fractions of the width and height.
CROP_VARIANTS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 0.0),
    *((k / 100,) * 4 for k in range(1, 7)),
    *(side for k in (2, 4, 6) for side in ((k / 100, k / 100, 0, 0), (0, k / 100, k / 100, 0),
                                            (0, 0, k / 100, k / 100), (k / 100, 0, 0, k / 100))),
)


def _crop(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = img.size
    l, t, r, b = box
    return img.crop((round(w * l), round(h * t), w - round(w * r), h - round(h * b)))


def perceptual_hash(pixels: np.ndarray) -> np.ndarray:
    """The image's DCT hashes, the whole image first, then each of :data:`CROP_VARIANTS`' crops.

    Args:
        pixels: RGB ``uint8`` ``(H, W, 3)``.

    Returns:
        ``uint8`` ``(len(CROP_VARIANTS), 32)``: each variant's 256 bits, packed (``np.packbits``).
    """
    import imagehash

    img = Image.fromarray(np.asarray(pixels, np.uint8)).convert("L")  # phash hashes the grey image anyway
    if min(img.size) >= 2 * SHRINK_TO:  # a box shrink first: the hash reads 64x64, and 19 crops of a photo are slow
        img = img.reduce(min(img.size) // SHRINK_TO)
    bits = [imagehash.phash(_crop(img, box) if any(box) else img, hash_size=HASH_SIZE).hash.reshape(-1)
            for box in CROP_VARIANTS]
    return np.packbits(np.stack(bits), axis=1)


def _signs(packed: np.ndarray) -> np.ndarray:
    """Packed bits ``(..., 32)`` as float32 ``±1`` ``(..., 256)``: then ``hamming = (256 - a @ b) / 2``."""
    return np.unpackbits(packed, axis=-1).astype(np.float32) * 2 - 1


def hash_pairs(hashes: np.ndarray, limit: int, chunk: int = 256) -> Iterator[tuple[int, int, int]]:
    """Pairs of images whose hash distance (module docstring) is at most ``limit``.

    One BLAS product per chunk of images (every variant of the chunk against every image's plain hash), so the cost
    is quadratic in the number of images: measured in ``benchmarks/near_duplicates.py``.

    Args:
        hashes: ``uint8`` ``(N, V, 32)``, :func:`perceptual_hash` of each image.
        limit: the most bits in which a pair may differ.

    Yields:
        ``(i, j, bits)`` with ``i < j``, each pair once, in no particular order.
    """
    n, v = hashes.shape[:2]
    if n < 2:
        return
    plain = _signs(hashes[:, 0])  # (N, 256)
    best = {}
    for s in range(0, n, chunk):
        part = _signs(hashes[s:s + chunk]).reshape(-1, HASH_BITS)  # (c * V, 256)
        bits = ((HASH_BITS - part @ plain.T) / 2).reshape(-1, v, n).min(1)  # (c, N): variant of row vs plain of col
        for a, b in zip(*np.nonzero(bits <= limit)):
            i, j = s + int(a), int(b)
            if i != j:
                key = (min(i, j), max(i, j))
                best[key] = min(best.get(key, HASH_BITS), int(round(float(bits[a, b]))))
    for (i, j), d in best.items():
        yield i, j, d


def hash_distance(a: np.ndarray, b: np.ndarray) -> int:
    """The hash distance of two images (module docstring), from their :func:`perceptual_hash` ``(V, 32)``."""
    plain = np.unpackbits(np.stack([a[0], b[0]]), axis=1)
    bits_a, bits_b = np.unpackbits(a, axis=1), np.unpackbits(b, axis=1)
    return int(min((bits_a != plain[1]).sum(1).min(), (bits_b != plain[0]).sum(1).min()))
