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


@pytest.mark.parametrize("link", ["file", "folder"])
def test_manifest_symlinks_out_of_the_folder_are_refused(tmp_path, link):
    """A manifest path that is, or lies under, a symlink to somewhere outside the set's folder is refused (as
    ``Path.resolve`` sees it); one whose link stays inside is accepted."""
    outside, root = tmp_path / "outside", tmp_path / "set"
    _touch(outside / "secret.jpg")
    _touch(root / "real" / "b.jpg")
    _touch(root / "fake" / "a.jpg")
    if link == "file":
        (root / "fake" / "x.jpg").symlink_to(outside / "secret.jpg")
        (root / "fake" / "ok.jpg").symlink_to(root / "fake" / "a.jpg")
        bad, good = "fake/x.jpg", "fake/ok.jpg"
    else:
        (root / "away").symlink_to(outside, target_is_directory=True)
        (root / "near").symlink_to(root / "fake", target_is_directory=True)
        bad, good = "away/secret.jpg", "near/a.jpg"
    (root / "m.csv").write_text(f"path,label\n{good},fake\nreal/b.jpg,real\n")
    assert discover(root / "m.csv", VOCAB).counts == {"fake": 1, "real": 1}
    (root / "m.csv").write_text(f"path,label\n{good},fake\n{bad},fake\nreal/b.jpg,real\n")
    with pytest.raises(HardSetError, match="line 3: path .* is outside the manifest's folder"):
        discover(root / "m.csv", VOCAB)


def test_symlink_loop_does_not_hang(tmp_path):
    _touch(tmp_path / "fake" / "a.jpg")
    _touch(tmp_path / "real" / "b.jpg")
    (tmp_path / "real" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert discover(tmp_path, VOCAB).counts == {"fake": 1, "real": 1}


def _kaggle(root, n=2):
    """A replica of Kaggle's "140k Real and Fake Faces" layout: images under real_vs_fake/real-vs-fake, CSVs at
    the root with the columns ,original_path,id,label,label_str,path (label 1 = real, 0 = fake)."""
    images = root / "real_vs_fake" / "real-vs-fake"
    for split in ("train", "valid", "test"):
        lines = [",original_path,id,label,label_str,path"]
        for k, cls in enumerate(("fake", "real")):
            for i in range(n):
                rel = f"{split}/{cls}/{split[0]}{cls[0]}{i}.jpg"
                _touch(images / rel)
                lines.append(f"{len(lines) - 1},/orig/{cls}/{i}.jpg,{i},{1 if cls == 'real' else 0},{cls},{rel}")
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return root


def test_kaggle_folders_ask_for_a_split(tmp_path):
    root = _kaggle(tmp_path)
    with pytest.raises(HardSetError, match="holds the splits test, train, valid; choose one with --split"):
        discover(root, VOCAB)
    hs = discover(root, VOCAB, split="test")
    assert hs.counts == {"fake": 2, "real": 2}
    assert all("/real-vs-fake/test/" in it.path for it in hs.items)
    with pytest.raises(HardSetError, match="no split folder named 'holdout'"):
        discover(root, VOCAB, split="holdout")


def test_kaggle_manifests_load_as_they_are(tmp_path):
    root = _kaggle(tmp_path)
    hs = discover(root / "valid.csv", VOCAB)  # label_str names the class; paths resolve under real_vs_fake/...
    assert hs.counts == {"fake": 2, "real": 2}
    assert all(it.path.startswith(str(root / "real_vs_fake" / "real-vs-fake" / "valid")) for it in hs.items)
    assert {it.label for it in hs.items if "/fake/" in it.path} == {"fake"}
    assert set(hs.items[0].meta) == {"original_path", "id"}  # the unnamed index and the class columns are not meta
    numeric = discover(root / "valid.csv", VOCAB, label_column="label", label_map={"0": "fake", "1": "real"})
    assert [(i.path, i.label) for i in numeric.items] == [(i.path, i.label) for i in hs.items]
    with pytest.raises(HardSetError, match=r"label '0' is not one of fake, real \(numeric labels need --labels"):
        discover(root / "valid.csv", VOCAB, label_column="label")
