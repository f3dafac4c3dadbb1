"""Hard-set discovery and its one-line refusals."""

import pytest

from facefake_core import HardSetError
from facefake_core.evaluation import discover

VOCAB = ["fake", "real"]


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")


def test_nested_case_insensitive_class_folders(tmp_path):
    _touch(tmp_path / "test" / "FAKE" / "a.jpg")
    _touch(tmp_path / "test" / "Real" / "b.PNG")
    _touch(tmp_path / "test" / "Real" / "notes.txt")
    hs = discover(tmp_path, VOCAB)
    assert hs.counts == {"fake": 1, "real": 1}


@pytest.mark.parametrize("layout,match", [
    (["cats/a.jpg", "dogs/b.jpg"], "no class folders"),
    (["fake/a.jpg", "other/b.jpg"], "no folder for class real"),
    (["fake/a.jpg", "real/readme.txt"], "class real has no images"),
])
def test_bad_layouts(tmp_path, layout, match):
    for f in layout:
        _touch(tmp_path / f)
    with pytest.raises(HardSetError, match=match):
        discover(tmp_path, VOCAB)


def test_manifest_problems(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.jpg,fake\n")
    with pytest.raises(HardSetError, match="lacks column path"):
        discover(tmp_path / "m.csv", VOCAB)
    (tmp_path / "m.csv").write_text("path,label\n../../etc/passwd,fake\nb.jpg,real\n")
    with pytest.raises(HardSetError, match="outside the manifest's folder"):
        discover(tmp_path / "m.csv", VOCAB)


def test_symlink_loop_does_not_hang(tmp_path):
    _touch(tmp_path / "fake" / "a.jpg")
    _touch(tmp_path / "real" / "b.jpg")
    (tmp_path / "real" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert discover(tmp_path, VOCAB).counts == {"fake": 1, "real": 1}
