"""The offline demo: synthetic portraits, a hard set, and two model rounds that show the studio blind spot.

``build_demo`` makes, under one folder::

    train/      real/ and fake/ portraits, mostly casual (as the seed's first round was), + manifest.csv
    hardset/    real/ and fake/ portraits, casual and studio alike, + manifest.csv (path,label,style)
    round0.pkl  the baseline, trained from scratch on train/          (calls studio fakes "real")
    round1.pkl  round0 fine-tuned with defocus and JPEG augmentation  (the fix)
    stamp.json  each stage's parameters and the SHA-256 of what it wrote

A stage is skipped when the stamp records the same parameters (which include the hashes of its inputs) and
its outputs still hash to the recorded values; anything else rebuilds that stage and the ones after it.

Training follows the seed's notebooks (``ImageDataLoaders.from_folder(valid_pct=0.2, seed=42)``,
``vision_learner(..., pretrained=False)``, ImageNet ``Normalize``, ``learn.export``), scaled to fit a 2-core
CPU: see ``benchmarks/DEMO_EXPERIMENTS.md`` for what was tried and why the settings below were chosen.

* resnet18, not the seed's resnet50: same body layout (layer4 is ``model[0][-1]``), but resnet50 needs more
  steps from scratch than fit the 15-minute budget (measured: under-trained at 520 steps in 10 minutes).
* Models train on random 96 px crops of the 192 px portraits, on a 4 px grid (a ResNet is fully
  convolutional; the grid keeps the generator trace's phase as at inference), and are exported with
  ``Resize(192)`` of the whole portrait, so inference sees the same pixels, unresampled (layer4: 6x6).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import CONFIG
from ..errors import DemoBuildError
from ..progress import Progress
from .synth import MANIFEST_NAME, SYNTH_VERSION, write_dataset

STAMP_NAME = "stamp.json"
#: Bumped whenever the training recipe changes, so that older builds are redone.
_STAMP_VERSION = 1


@dataclass(frozen=True)
class DemoScale:
    """Everything that decides what a build makes; part of the stamp, so a change rebuilds."""

    train_per_class: dict[str, int]  # images per class, per style
    hard_per_class: dict[str, int]
    size: int  # portrait side = inference Resize
    crop: int  # training crop side
    arch: str
    round0_epochs: int
    round0_lr: float
    round1_epochs: int
    round1_lr: float
    bs: int
    train_seed: int = 1
    hard_seed: int = 2


SCALES: dict[str, DemoScale] = {
    "full": DemoScale(train_per_class={"casual": 360, "studio": 40}, hard_per_class={"casual": 100, "studio": 100},
                      size=192, crop=96, arch="resnet18", round0_epochs=10, round0_lr=2e-3,
                      round1_epochs=5, round1_lr=2e-3, bs=16),
    "tiny": DemoScale(train_per_class={"casual": 6, "studio": 2}, hard_per_class={"casual": 2, "studio": 2},
                      size=64, crop=32, arch="resnet18", round0_epochs=1, round0_lr=1e-3,
                      round1_epochs=1, round1_lr=1e-3, bs=8),
}


@dataclass(frozen=True)
class DemoPaths:
    """Where a built demo lives: the model of each round and the hard set's folder (with ``manifest.csv``)."""

    models: dict[str, Path]
    hardset: Path

    def to_json(self) -> dict:
        return {"models": {k: str(v) for k, v in self.models.items()}, "hardset": str(self.hardset)}


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _digest(out: Path) -> str:
    """Hash of a model file, or of a data folder's manifest and every image it lists."""
    if out.is_dir():
        lines = (out / MANIFEST_NAME).read_text().splitlines()[1:]
        return _sha256([out / MANIFEST_NAME] + [out / line.split(",")[0] for line in lines])
    return _sha256([out])


class _Stamp:
    """The build record: per stage, its parameters and the digest of its output."""

    def __init__(self, root: Path, force: bool) -> None:
        self.path = root / STAMP_NAME
        self.stages: dict[str, dict] = {}
        if self.path.exists() and not force:
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == _STAMP_VERSION:
                    self.stages = data.get("stages", {})
            except (OSError, ValueError):
                self.stages = {}

    def valid(self, name: str, params: dict, out: Path) -> str | None:
        """The output's digest when the stage is recorded with ``params`` and its output is intact."""
        rec = self.stages.get(name)
        if rec is None or rec.get("params") != params or not out.exists():
            return None
        try:
            digest = _digest(out)
        except OSError:
            return None
        return digest if digest == rec.get("digest") else None

    def record(self, name: str, params: dict, out: Path) -> str:
        digest = _digest(out)
        self.stages[name] = {"params": params, "digest": digest}
        tmp = self.path.with_name(STAMP_NAME + ".tmp")
        tmp.write_text(json.dumps({"version": _STAMP_VERSION, "stages": self.stages}, indent=1))
        tmp.replace(self.path)
        return digest


@contextmanager
def _build_lock(root: Path, progress: Progress | None) -> Iterator[None]:
    """One build per folder at a time, across threads and processes (two dashboard sessions, or a session and
    the CLI). A second builder waits, then finds the stages built and skips them. No lock where ``fcntl`` is
    missing (Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(root / ".build.lock", "a") as f:  # each open is its own lock holder, threads included
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(0, 1, "waiting for another build of the demo")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _two_threads() -> Iterator[None]:
    """Trains on at most 2 threads (the budget's machine) and gives the process its setting back after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_round0(data: Path, out: Path, scale: DemoScale, progress: Progress | None) -> None:
    """Round 0, from scratch: one-cycle training of every layer (no pretrained body to freeze)."""
    from fastai.metrics import accuracy
    from fastai.torch_core import set_seed
    from fastai.vision import models
    from fastai.vision.learner import vision_learner

    from ..training.finetune import ReportProgress, export_for_inference, folder_dls, train_item_tfms

    set_seed(42, reproducible=True)
    dls = folder_dls(data, train_item_tfms(scale.size, scale.crop), scale.bs)
    if list(dls.vocab) != ["fake", "real"]:
        raise DemoBuildError(f"training folder classes are {list(dls.vocab)}, expected ['fake', 'real']")
    learn = vision_learner(dls, getattr(models, scale.arch), pretrained=False, metrics=accuracy)
    total = scale.round0_epochs * len(dls.train)
    cbs = [ReportProgress(progress, total, "training round0")] if progress else []
    with _two_threads(), learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(scale.round0_epochs, scale.round0_lr, cbs=cbs)
    export_for_inference(learn, data, scale.size, out, scale.bs)


def _train_round1(round0: Path, data: Path, out: Path, scale: DemoScale, progress: Progress | None) -> None:
    """Round 1, the fix: the seed's fine-tune recipe with defocus and JPEG augmentation."""
    from fastai.torch_core import set_seed

    from ..training.finetune import finetune

    set_seed(43, reproducible=True)
    with _two_threads():
        finetune(round0, data, out, epochs=scale.round1_epochs, defocus_aug=True, lr=scale.round1_lr,
                 bs=scale.bs, size=scale.size, crop=scale.crop, progress=progress)


def _root(out_dir: Path | str | None) -> Path:
    return Path(out_dir) if out_dir is not None else CONFIG.demo_dir


def _paths(root: Path) -> DemoPaths:
    return DemoPaths(models={"round0": root / "round0.pkl", "round1": root / "round1.pkl"}, hardset=root / "hardset")


def build_demo(out_dir: Path | None = None, *, scale: str = "full", progress: Progress | None = None,
               force: bool = False) -> DemoPaths:
    """Builds (or finds already built) the offline demo's data and models.

    Args:
        out_dir: the demo folder; ``None`` means ``CONFIG.demo_dir``.
        scale: ``"full"`` (the demo; about 6-7 minutes on 2 idle CPU cores, longer on a busy machine) or
            ``"tiny"`` (seconds; for tests).
        progress: called as ``progress(done, total, what)`` during generation and training.
        force: rebuild every stage even when the stamp says it is intact.

    Returns:
        The paths of ``round0`` and ``round1`` and of the hard set.

    Raises:
        DemoBuildError: unknown scale, unwritable folder, or a failure while generating or training.
    """
    if scale not in SCALES:
        raise DemoBuildError(f"unknown demo scale {scale!r}; use one of {sorted(SCALES)}")
    s = SCALES[scale]
    root = _root(out_dir)
    paths = _paths(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _build_lock(root, progress):
            _build_stages(root, paths, s, progress, force)
    except DemoBuildError:
        raise
    except (OSError, RuntimeError, ValueError) as err:
        raise DemoBuildError(f"could not build the offline demo in {root}: {err}") from err
    return paths


def _build_stages(root: Path, paths: DemoPaths, s: DemoScale, progress: Progress | None, force: bool,
                  check_only: bool = False) -> bool:
    """Each stage in order, skipping those the stamp shows intact. With ``check_only``, builds nothing and says
    whether every stage is intact."""
    train = root / "train"
    stamp = _Stamp(root, force)
    digests = {}
    for name, folder, n, seed in (("train", train, s.train_per_class, s.train_seed),
                                  ("hardset", paths.hardset, s.hard_per_class, s.hard_seed)):
        params = {"n": n, "seed": seed, "size": s.size, "synth": SYNTH_VERSION}
        digests[name] = stamp.valid(name, params, folder)
        if digests[name] is None:
            if check_only:
                return False
            shutil.rmtree(folder, ignore_errors=True)  # no stale images from an older build
            write_dataset(folder, n, seed, s.size, progress)
            digests[name] = stamp.record(name, params, folder)
    scale_params = asdict(s)
    r0_params = {"scale": scale_params, "train": digests["train"]}
    r0 = stamp.valid("round0", r0_params, paths.models["round0"])
    if r0 is None:
        if check_only:
            return False
        _train_round0(train, paths.models["round0"], s, progress)
        r0 = stamp.record("round0", r0_params, paths.models["round0"])
    r1_params = {"scale": scale_params, "train": digests["train"], "round0": r0}
    if stamp.valid("round1", r1_params, paths.models["round1"]) is None:
        if check_only:
            return False
        _train_round1(paths.models["round0"], train, paths.models["round1"], s, progress)
        stamp.record("round1", r1_params, paths.models["round1"])
    return True


def demo_intact(out_dir: Path | None = None, scale: str = "full") -> bool:
    """Whether every stage of a build in ``out_dir`` is recorded with this recipe and hashes as recorded."""
    root = _root(out_dir)
    try:
        return _build_stages(root, _paths(root), SCALES[scale], None, force=False, check_only=True)
    except OSError:
        return False


def find_demo(out_dir: Path | None = None, scale: str = "full") -> DemoPaths | None:
    """The demo's paths if a complete build of this recipe is recorded there and its files exist, else ``None``.

    A cheap check (no hashing, no lock) for deciding whether to ask before a build; loading still goes through
    :func:`build_demo`, which verifies every stage.
    """
    root = _root(out_dir)
    stages = _Stamp(root, force=False).stages
    scale_params = asdict(SCALES[scale])
    paths = _paths(root)
    complete = all(stages.get(r, {}).get("params", {}).get("scale") == scale_params for r in paths.models)
    present = all(p.is_file() for p in paths.models.values()) and (paths.hardset / MANIFEST_NAME).is_file()
    return paths if complete and present else None


def build_demo_isolated(out_dir: Path | None = None, *, scale: str = "full",
                        progress: Progress | None = None) -> DemoPaths:
    """:func:`build_demo` in a fresh Python process, with its progress relayed to ``progress``.

    Training from scratch amplifies float-level differences into different models. Builds run in a plain process
    (the CLI, a test, a thread of one) gave bit-identical weights, but three builds run inside a ``streamlit run``
    server gave three different round0s (20, 29 and about 48 of 100 studio fakes caught), so long-running hosts
    build in a child process, which also keeps the training's threads out of the host.

    Raises:
        DemoBuildError: the child's one-line reason when the build fails.
    """
    if scale not in SCALES:
        raise DemoBuildError(f"unknown demo scale {scale!r}; use one of {sorted(SCALES)}")
    root = _root(out_dir)
    cmd = [sys.executable, "-m", "facefake_core.demo", str(root), scale]
    package_parent = str(Path(__file__).resolve().parents[2])  # the child imports this very package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a chatty child can never block on it
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env) as proc:
            for line in proc.stdout:  # "done<TAB>total<TAB>what" per progress report; anything else is ignored
                parts = line.rstrip("\n").split("\t", 2)
                if progress and len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
                    progress(int(parts[0]), int(parts[1]), parts[2])
        log.seek(0)
        err = log.read().strip().splitlines()
    if proc.returncode:
        raise DemoBuildError(err[-1] if err else f"the demo build stopped with exit status {proc.returncode}")
    return _paths(root)


def ensure_demo(progress: Progress | None = None) -> DemoPaths:
    """The full demo in ``CONFIG.demo_dir``, built first (in a child process) if it is missing or incomplete."""
    if find_demo(CONFIG.demo_dir) is not None and demo_intact(CONFIG.demo_dir):
        return _paths(CONFIG.demo_dir)
    return build_demo_isolated(CONFIG.demo_dir, scale="full", progress=progress)


def _main(argv: list[str]) -> int:
    """``python -m facefake_core.demo DIR SCALE``: the child of :func:`build_demo_isolated`."""
    def report(done: int, total: int, what: str) -> None:
        print(f"{done}\t{total}\t{what}", flush=True)

    try:
        build_demo(Path(argv[0]), scale=argv[1], progress=report)
    except DemoBuildError as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0

