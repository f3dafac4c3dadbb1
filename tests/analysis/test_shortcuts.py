"""The shortcut audit: metadata_auc near 1 when the classes differ by format, near 0.5 when they do not."""

from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import draw_photo
from facefake_core.analysis.shortcuts import WARN_AUC, audit


def _write(root, n, fake_fmt, real_fmt, size=(96, 80)):
    items = []
    for label, fmt in (("fake", fake_fmt), ("real", real_fmt)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            seed = 2 * i + (label == "real")  # one pool of drawings for both classes
            path = root / label / f"{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
            img = Image.fromarray(draw_photo(seed, *size))
            img.save(path, **({"quality": 85} if fmt == "JPEG" else {}))
            items.append((str(path), label))
    return items


def test_a_set_whose_classes_differ_by_format_gives_itself_away(tmp_path):
    out = audit(_write(tmp_path, 12, "PNG", "JPEG"))
    assert out["metadata_auc"] > 0.95 and out["warning"] and "gives the answer away" in out["warning"]
    assert out["classes"]["fake"]["format"] == {"PNG": 12} and out["classes"]["real"]["format"] == {"JPEG": 12}
    assert out["classes"]["real"]["jpeg_quality"]["median"] == 85 and out["classes"]["fake"]["jpeg_quality"] is None


def test_the_same_format_and_size_give_nothing_away(tmp_path):
    out = audit(_write(tmp_path, 16, "JPEG", "JPEG"))
    assert abs(out["metadata_auc"] - 0.5) < 0.25 and out["metadata_auc"] < WARN_AUC and out["warning"] is None
    assert out["classes"]["fake"]["subsampling"] == {"4:2:0": 16}


def test_unreadable_files_are_listed_not_fatal(tmp_path):
    items = _write(tmp_path, 3, "PNG", "PNG")
    (tmp_path / "fake" / "bad.png").write_bytes(b"nope")
    out = audit(items + [(str(tmp_path / "fake" / "bad.png"), "fake")])
    assert [u["path"] for u in out["unreadable"]] == [str(tmp_path / "fake" / "bad.png")]
    assert out["classes"]["fake"]["n"] == 3 and np.isfinite(out["metadata_auc"])
