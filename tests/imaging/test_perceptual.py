"""Perceptual hashes: each variant is imagehash's own phash of that crop, the pair search agrees with hamming
distances that imagehash itself computes, and the hashes are computed once per image and kept in the store."""

import imagehash
import numpy as np
from PIL import Image

from facefake_core.analysis import image_hashes, set_features
from facefake_core.demo import render_portrait
from facefake_core.evaluation import Evaluation, Row, Store
from facefake_core.imaging.perceptual import CROP_VARIANTS, hash_distance, hash_pairs, perceptual_hash


def _crop(img: Image.Image, box) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * box[0]), round(h * box[1]), w - round(w * box[2]), h - round(h * box[3])))


def _by_imagehash(a: np.ndarray, b: np.ndarray) -> int:
    """The hash distance worked out with imagehash alone: its phash of each crop of one image against its phash of
    the other image, either way round, using ``ImageHash.__sub__`` (the hamming distance)."""
    ia, ib = Image.fromarray(a).convert("L"), Image.fromarray(b).convert("L")
    plain_a, plain_b = imagehash.phash(ia, hash_size=16), imagehash.phash(ib, hash_size=16)
    return min(min(imagehash.phash(_crop(ia, v), hash_size=16) - plain_b for v in CROP_VARIANTS),
               min(imagehash.phash(_crop(ib, v), hash_size=16) - plain_a for v in CROP_VARIANTS))


def test_variants_are_imagehash_phashes_of_the_crops():
    px = render_portrait(3, "real", "studio", size=128)
    h = perceptual_hash(px)
    assert h.shape == (len(CROP_VARIANTS), 32) and h.dtype == np.uint8
    grey = Image.fromarray(px).convert("L")
    for box, packed in zip(CROP_VARIANTS, h):
        assert np.array_equal(np.unpackbits(packed), imagehash.phash(_crop(grey, box), hash_size=16).hash.reshape(-1))


def test_pair_search_matches_imagehash_distances():
    images = [render_portrait(40 + i, ("fake", "real")[i % 2], "casual", size=96) for i in range(5)]
    images.append(np.asarray(_crop(Image.fromarray(images[2]), (0.03,) * 4).resize((80, 80))))  # a copy of image 2
    hashes = np.stack([perceptual_hash(px) for px in images])
    by_hand = {(i, j): _by_imagehash(images[i], images[j]) for i in range(6) for j in range(i + 1, 6)}
    for (i, j), d in by_hand.items():
        assert hash_distance(hashes[i], hashes[j]) == d
    limit = sorted(by_hand.values())[3]  # a limit that keeps some pairs and not others
    found = {(i, j): d for i, j, d in hash_pairs(hashes, limit, chunk=2)}  # chunks smaller than the set
    assert found == {k: d for k, d in by_hand.items() if d <= limit}
    assert by_hand[(2, 5)] == min(by_hand.values())  # the copy is the closest pair


def test_hashes_are_computed_once_and_stored(tmp_path, monkeypatch):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(render_portrait(i, "real", "casual", size=64)).save(paths[-1])
    rows = tuple(Row(str(p), "real", image_sha=f"sha{i}", probs={"fake": 0.1, "real": 0.9})
                 for i, p in enumerate([*paths, tmp_path / "gone.png"]))  # the last file does not exist
    store = Store(tmp_path / "s.sqlite")
    store.put_features("m" * 64, [(r.image_sha, np.ones(4, np.float16)) for r in rows])
    pool = lambda rs: [set_features(Evaluation("m" * 64, ("fake", "real"), "set", rs, (), computed=0,
                                               reused=len(rs)), store)]
    first = image_hashes(pool(rows), store)
    assert sorted(first) == ["sha0", "sha1", "sha2"]  # an unreadable file has no hash, and stops nothing

    def boom(*a, **k):
        raise AssertionError("hashed again")

    monkeypatch.setattr("facefake_core.analysis.embedding.perceptual_hash", boom)
    again = image_hashes(pool(rows[:3]), Store(tmp_path / "s.sqlite"))
    assert sorted(again) == sorted(first) and all(np.array_equal(again[k], first[k]) for k in first)
    assert sorted(image_hashes(pool(rows), store)) == sorted(first)  # the missing file fails to load, quietly
