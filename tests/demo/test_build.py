"""End-to-end test of the offline demo at scale "tiny": generation, both rounds, export, loading, skipping.

The tiny models learn nothing useful (one short epoch on a handful of 64 px portraits); what is tested is
the plumbing: files, stamp, exported pipelines that fastai loads, and that an intact build is not redone.
"""

from __future__ import annotations

import csv
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from fastai.learner import load_learner

from facefake_core import DemoBuildError, HardSetError
from facefake_core.demo import MANIFEST_NAME, build as demo
from facefake_core.training import finetune


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo.DemoPaths, list[tuple[int, int, str]]]:
    calls: list[tuple[int, int, str]] = []
    paths = demo.build_demo(tmp_path_factory.mktemp("demo"), scale="tiny",
                            progress=lambda d, t, w: calls.append((d, t, w)))
    return paths, calls


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a stage that was built and intact was trained again")

    monkeypatch.setattr(demo, "_train_round0", refuse)
    monkeypatch.setattr(demo, "_train_round1", refuse)


def test_build_writes_models_and_hardset(built) -> None:
    paths, calls = built
    assert set(paths.models) == {"round0", "round1"}
    assert all(p.is_file() for p in paths.models.values())
    with open(paths.hardset / MANIFEST_NAME, newline="") as f:
        rows = list(csv.DictReader(f))
    scale = demo.SCALES["tiny"]
    assert len(rows) == 2 * sum(scale.hard_per_class.values())
    assert {(r["label"], r["style"]) for r in rows} == {(lb, st) for lb in ("fake", "real")
                                                         for st in ("casual", "studio")}
    assert all((paths.hardset / r["path"]).is_file() for r in rows)
    assert paths.to_json() == {"models": {k: str(v) for k, v in paths.models.items()},
                               "hardset": str(paths.hardset)}
    whats = {w for _, _, w in calls}
    assert any("round0" in w for w in whats) and any("round1" in w for w in whats)
    assert all(0 < d <= t for d, t, _ in calls)


@pytest.mark.parametrize("round_name", ["round0", "round1"])
def test_exported_rounds_load_and_predict(built, round_name: str) -> None:
    paths, _ = built
    learn = load_learner(paths.models[round_name], cpu=True)
    assert list(learn.dls.vocab) == ["fake", "real"]
    # Inference pipelines hold fastai's own transforms only (the training augments were removed).
    item_tfms = [type(t).__name__ for t in learn.dls.after_item.fs]
    assert "Resize" in item_tfms
    assert not {"DefocusBackground", "RandomJpeg", "RandomCrop", "FlipItem"} & set(item_tfms)
    image = next(iter(sorted((paths.hardset / "fake").glob("*.png"))))
    label, idx, probs = learn.predict(image)
    assert label in ("fake", "real")
    assert np.isclose(float(probs.sum()), 1.0, atol=1e-4)


def test_second_build_trains_nothing(built, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _ = built
    before = {k: p.stat().st_mtime_ns for k, p in paths.models.items()}
    _no_training(monkeypatch)
    again = demo.build_demo(paths.hardset.parent, scale="tiny")
    assert again == paths
    assert {k: p.stat().st_mtime_ns for k, p in again.models.items()} == before


def test_damaged_round1_is_rebuilt_alone(built, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, _ = built
    paths.models["round1"].write_bytes(b"truncated")
    rebuilt: list[Path] = []
    original = demo._train_round1

    def record(round0: Path, data: Path, out: Path, *args, **kwargs) -> None:
        rebuilt.append(out)
        original(round0, data, out, *args, **kwargs)

    _no_training(monkeypatch)
    monkeypatch.setattr(demo, "_train_round1", record)
    demo.build_demo(paths.hardset.parent, scale="tiny")
    assert rebuilt == [paths.models["round1"]]
    assert list(load_learner(paths.models["round1"], cpu=True).dls.vocab) == ["fake", "real"]


def test_find_demo_sees_only_complete_builds_of_its_recipe(built, tmp_path: Path) -> None:
    paths, _ = built
    assert demo.find_demo(paths.hardset.parent, scale="tiny") == paths
    assert demo.find_demo(paths.hardset.parent, scale="full") is None  # another recipe: a build would be needed
    assert demo.find_demo(tmp_path / "nothing here", scale="tiny") is None
    partial = tmp_path / "partial"
    shutil.copytree(paths.hardset.parent, partial)
    (partial / "round1.pkl").unlink()
    assert demo.find_demo(partial, scale="tiny") is None


def test_concurrent_builds_train_once(built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sessions asking for the same demo at once: one builds, the other waits and then finds it built."""
    paths, _ = built
    root = tmp_path / "demo"
    shutil.copytree(paths.hardset.parent, root)
    (root / "round1.pkl").unlink()
    trained: list[Path] = []
    original = demo._train_round1

    def record(round0: Path, data: Path, out: Path, *args, **kwargs) -> None:
        trained.append(out)
        original(round0, data, out, *args, **kwargs)

    monkeypatch.setattr(demo, "_train_round1", record)
    waits: list[str] = []
    progress = lambda d, t, what: waits.append(what) if what.startswith("waiting") else None  # noqa: E731
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: demo.build_demo(root, scale="tiny", progress=progress), range(2)))
    assert trained == [root / "round1.pkl"]
    assert waits == ["waiting for another build of the demo"]
    assert results[0] == results[1] and results[0].models["round1"].is_file()


def test_isolated_build_relays_progress_and_trains_the_same_weights(built, tmp_path: Path) -> None:
    """The child-process build (what the dashboard and ``demo:`` sources use) makes the very models of an in-process
    build, bit for bit, and reports its progress through the pipe."""
    paths, _ = built
    calls: list[tuple[int, int, str]] = []
    isolated = demo.build_demo_isolated(tmp_path / "demo", scale="tiny", progress=lambda d, t, w: calls.append((d, t, w)))
    assert isolated.models["round0"].is_file() and demo.demo_intact(tmp_path / "demo", scale="tiny")
    whats = {w for _, _, w in calls}
    assert any("round0" in w for w in whats) and any("round1" in w for w in whats)
    for name in ("round0", "round1"):
        ours = load_learner(isolated.models[name], cpu=True).model.state_dict()
        theirs = load_learner(paths.models[name], cpu=True).model.state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name


def test_isolated_build_failure_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with pytest.raises(DemoBuildError, match="could not build the offline demo") as info:
        demo.build_demo_isolated(blocker / "demo", scale="tiny")
    assert "\n" not in str(info.value)


def test_demo_intact_sees_damage(built, tmp_path: Path) -> None:
    paths, _ = built
    assert demo.demo_intact(paths.hardset.parent, scale="tiny")
    copy = tmp_path / "copy"
    shutil.copytree(paths.hardset.parent, copy)
    (copy / "round1.pkl").write_bytes(b"truncated")
    assert not demo.demo_intact(copy, scale="tiny")
    assert not demo.demo_intact(tmp_path / "nothing", scale="tiny")


def test_finetune_refuses_folders_with_other_classes(built, tmp_path: Path) -> None:
    paths, _ = built
    portrait = (paths.hardset / "real" / "casual_00000.png").read_bytes()
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"{i}.png").write_bytes(portrait)
    with pytest.raises(HardSetError):
        finetune(paths.models["round0"], tmp_path, tmp_path / "out.pkl", epochs=1)
    assert not (tmp_path / "out.pkl").exists()


def test_unknown_scale_is_a_demo_build_error(tmp_path: Path) -> None:
    with pytest.raises(DemoBuildError):
        demo.build_demo(tmp_path, scale="huge")
