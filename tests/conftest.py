"""Shared fixtures: a real fastai ``vision_learner(resnet50, pretrained=False)`` exported to a temp ``.pkl``,
and photos drawn with numpy. Nothing is downloaded."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

LEARNER_SIZE = 128


def draw_photo(seed: int, width: int = 160, height: int = 120) -> np.ndarray:
    """A deterministic RGB uint8 ``(height, width, 3)`` picture: smooth colour gradient, an ellipse, some noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], -1) * rng.uniform(80, 200, 3)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    inside = ((xx - cx) / (0.2 * width)) ** 2 + ((yy - cy) / (0.3 * height)) ** 2 < 1
    base[inside] = rng.uniform(100, 255, 3)
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def make_image_folder(root: Path, n: int = 4, size: tuple[int, int] = (160, 120)) -> Path:
    """``root/fake`` and ``root/real`` with ``n`` JPEGs each."""
    for k, label in enumerate(["fake", "real"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(draw_photo(100 * k + i, *size)).save(root / label / f"{label}_{i}.jpg", quality=92)
    return root


def export_learner(root: Path, arch_name: str = "resnet50", size: int = LEARNER_SIZE, method: str = "crop",
                   out_name: str = "learner.pkl") -> Path:
    """Build ``vision_learner(dls, arch, pretrained=False)`` the seed's way and ``learn.export`` it."""
    import torch
    from fastai.vision.all import (
        ImageDataLoaders, Normalize, Resize, imagenet_stats, resnet18, resnet50, vision_learner,
    )

    torch.manual_seed(0)
    data = make_image_folder(root / "data")
    dls = ImageDataLoaders.from_folder(
        data, valid_pct=0.25, seed=42, item_tfms=Resize(size, method=method),
        batch_tfms=[Normalize.from_stats(*imagenet_stats)], bs=2, num_workers=0)
    arch = {"resnet50": resnet50, "resnet18": resnet18}[arch_name]
    learn = vision_learner(dls, arch, pretrained=False)
    # Random-init BatchNorm running stats make every output the same; perturb them so classes differ.
    with torch.no_grad():
        for m in learn.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d) or isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.3)
                m.bias.normal_(0, 0.3)
        # Keep the logits moderate so probabilities are not saturated at 0 and 1.
        learn.model[1][-1].weight.mul_(0.02)
    out = root / out_name
    learn.path = root
    learn.export(out)
    return out


def dof_photo(seed: int, sharp_background: bool, w: int = 160, h: int = 120) -> np.ndarray:
    """draw_photo's smooth gradient reads as a narrow depth of field; blocky texture everywhere reads as sharp."""
    img = draw_photo(seed, w, h).astype(float)
    if sharp_background:
        rng = np.random.default_rng(1000 + seed)
        img += rng.normal(0, 25, (h // 4, w // 4)).repeat(4, 0).repeat(4, 1)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dof_set(root: Path, n: int = 2) -> Path:
    """``root/fake`` (n sharp, n narrow) and ``root/real`` (n sharp, n narrow) PNGs."""
    for k, label in enumerate(["fake", "real"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            for sharp in (True, False):
                img = dof_photo(50 * k + 10 * i + sharp, sharp)
                Image.fromarray(img).save(root / label / f"{'sharp' if sharp else 'narrow'}_{i}.png")
    return root


@pytest.fixture(scope="session")
def learner_pkl(tmp_path_factory) -> Path:
    """A fastai resnet50 learner (random init, Resize(128) crop), exported with ``learn.export``."""
    return export_learner(tmp_path_factory.mktemp("learner"))


@pytest.fixture(scope="session")
def fastai_learner(learner_pkl):
    """The same export loaded by fastai's own ``load_learner`` (the reference for parity tests)."""
    from fastai.learner import load_learner

    return load_learner(learner_pkl, cpu=True)


@pytest.fixture(scope="session")
def model(learner_pkl):
    """The export loaded through the project's own loader."""
    from facefake_core import load_model

    return load_model(str(learner_pkl), device="cpu")


@pytest.fixture
def photo_file(tmp_path) -> Path:
    p = tmp_path / "photo.png"
    Image.fromarray(draw_photo(7, 200, 150)).save(p)
    return p


@contextmanager
def serve_dashboard(env: dict, log: Path, start_s: float = 120, command=None) -> Iterator[str]:
    """A real ``streamlit run dashboard/app.py`` on a free local port, yielding its URL once its health endpoint
    answers, and terminated afterwards whatever happens (its own process group). ``command(port)`` gives another
    command line that starts it (``facefake serve ...``).

    Raises:
        RuntimeError: the server exited or did not answer within ``start_s`` (the message ends with its log).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    streamlit = Path(sys.executable).with_name("streamlit")
    with open(log, "wb") as out:
        argv = command(port) if command else [str(streamlit), "run", "dashboard/app.py", "--server.port", str(port),
                                              "--server.headless", "true", "--server.address", "127.0.0.1"]
        proc = subprocess.Popen(argv,
                                cwd=Path(__file__).resolve().parents[1], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer within {start_s} s:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.5)  # polling the server's health endpoint, not waiting on a guess
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
