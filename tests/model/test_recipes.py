"""Issue 20's recipe matrix: learners built the way the fastai course teaches, exported untrained, load through
the safe default, predict as ``learn.predict`` does (within 1e-5) and get a heatmap on their CAM layer.

Expected probabilities come from fastai itself: ``load_learner`` on the same file (fastai 2.8 rows, exported
here) or fastai 2.7.19's ``learn.predict`` recorded by ``tests/safeload/fixtures/make_fastai27_fixture.py``.
Expected CAM layers and crop boxes are worked out by hand from the architectures and fastai's arithmetic.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import recipes
from facefake_core import load_model

FIXTURES = Path(__file__).resolve().parents[1] / "safeload" / "fixtures"
PROBES = recipes.PROBES

#: recipe -> the CAM layer, by hand: a ResNet's layer4; else the last convolutional block of the body's chain
#: with what follows it (densenet: norm5 after denseblock4; squeezenet: its last Fire; xresnet: its 4th stage
#: at index 7 of the Sequential; timm: the stage stack inside TimmBody.model).
CAM_LAYER = {
    "rrc": "layer4", "presizing": "layer4", "mixup": "layer4", "trackers": "layer4", "label_smoothing": "layer4",
    "xresnet": "7", "fp16_no_normalize": "0.0.12", "datablock": "layer4", "resnet101": "layer4",
    "densenet": "0.0.norm5", "convnext": "0.model.stages", "name_re": "layer4",
}
ARCH = {"xresnet": "xresnet50", "resnet101": "resnet101", "densenet": "densenet121", "convnext": "convnext_atto",
        "rrc": "resnet18", "fp16_no_normalize": "squeezenet1_1"}
ROWS = [pytest.param(name, marks=pytest.mark.skipif(
    name == "convnext" and importlib.util.find_spec("timm") is None, reason="timm is not installed"))
    for name in CAM_LAYER]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return recipes.image_folder(tmp_path_factory.mktemp("recipe_data"))


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory) -> dict[str, Path]:
    return {"dir": tmp_path_factory.mktemp("recipe_exports")}


def _export(name: str, data: Path, out: Path) -> Path:
    pkl = out / f"{name}.pkl"
    if not pkl.exists():
        learn = recipes.recipes()[name](data)
        learn.path = out
        learn.export(pkl.name)
    return pkl


def _fastai_probs(pkl: Path) -> list[np.ndarray]:
    from fastai.learner import load_learner

    learn = load_learner(pkl, cpu=True)
    with learn.no_bar():
        return [learn.predict(recipes.picture(*p))[2].numpy() for p in PROBES]


def _check(model: Any, expected: list[np.ndarray], layer: str) -> None:
    assert model.info.load_method == "safe-pickle"
    assert model.info.target_layer == layer
    for probe, want in zip(PROBES, expected):
        picture = np.asarray(recipes.picture(*probe))
        got = model.predict(picture).probs
        np.testing.assert_allclose([got[v] for v in model.vocab], want, atol=1e-5, rtol=0)
        e = model.explain(picture)
        assert e.layer == layer and e.heatmap.shape == picture.shape[:2]
        assert e.raw_cam.ndim == 2 and np.isfinite(e.raw_cam).all()
        x0, y0, x1, y1 = e.crop_box
        outside = np.ones(picture.shape[:2], bool)
        outside[max(y0, 0):y1, max(x0, 0):x1] = False
        assert e.heatmap[outside].max(initial=0) == 0


@pytest.mark.parametrize("name", ROWS)
def test_fastai28_recipe_loads_safely_predicts_like_fastai_and_explains(name, data, exported):
    pkl = _export(name, data, exported["dir"])
    expected = _fastai_probs(pkl)
    assert any(abs(p[0] - 0.5) > 1e-3 for p in expected)  # outputs a mismatch would show in
    model = load_model(str(pkl), device="cpu")
    _check(model, expected, CAM_LAYER[name])
    if name in ARCH:
        assert model.info.arch == ARCH[name]


def test_random_resized_crop_uses_fastais_validation_crop(data, exported):
    from fastai.learner import load_learner

    pkl = _export("rrc", data, exported["dir"])
    model = load_model(str(pkl), device="cpu")
    learn = load_learner(pkl, cpu=True)
    picture = recipes.picture(*PROBES[0])
    expected = learn.dls.test_dl([picture]).one_batch()[0].as_subclass(torch.Tensor)
    from facefake_core.imaging import load_photo

    np.testing.assert_allclose(model.prepare([load_photo(np.asarray(picture))]).numpy(), expected.numpy(), atol=1e-6)
    # RandomResizedCrop(64) at validation: squish to 64 + ceil(64 * 0.14 / 8) * 8 = 80, centre crop 64: the
    # photo's central 64/80 in each direction. 96x72: x 8/80*96 = 9.6 .. 72/80*96 = 86.4, y 7.2 .. 64.8.
    assert model.prep.crop_box(96, 72) == (10, 7, 86, 65)
    assert model.info.input_size == (64, 64)


def test_presizing_crops_on_the_batch(data, exported):
    pkl = _export("presizing", data, exported["dir"])
    model = load_model(str(pkl), device="cpu")
    # Resize(96) takes the centre square of the short side; RandomResizedCropGPU(64, ratio=(1, 1)) keeps all of
    # that square at validation and resamples it to 64: a 96x72 photo is seen through (12, 0, 84, 72).
    assert [s.kind for s in model.prep.batch_steps] == ["affine", "gpu_crop"]
    assert model.prep.crop_box(96, 72) == (12, 0, 84, 72)
    assert model.info.input_size == (64, 64)
    assert model.prep.mean is not None


def test_learner_without_normalize_is_not_normalised(data, exported):
    model = load_model(str(_export("fp16_no_normalize", data, exported["dir"])), device="cpu")
    assert model.prep.mean is None and model.prep.std is None
    x = model.prepare([__import__("facefake_core").imaging.load_photo(np.asarray(recipes.picture(*PROBES[0])))])
    assert 0 <= float(x.min()) and float(x.max()) <= 1  # [0, 1] pixels, as fastai feeds them
    assert all(p.dtype == torch.float32 for p in model.net.parameters())


def _fastai27_rows() -> list[str]:
    path = FIXTURES / "fastai27_recipes.json"
    return list(json.loads(path.read_text())) if path.exists() else []


@pytest.mark.parametrize("name", _fastai27_rows())
def test_fastai27_recipe_loads_safely_and_predicts_as_fastai27_did(name):
    row = json.loads((FIXTURES / "fastai27_recipes.json").read_text())[name]
    model = load_model(str(FIXTURES / row["pkl"]), device="cpu")
    assert "fastcore.transform.Transform -> fasttransform.transform.Transform" in model.info.remapped
    expected = [np.asarray(r["probs"]) for r in row["images"]]
    assert [tuple(r["probe"]) for r in row["images"]] == [tuple(p) for p in PROBES]
    _check(model, expected, row["cam_layer"])
