"""The pickle-free format predicts and explains exactly as the pickle it came from, and unpickles nothing."""

import pickle

import numpy as np
import pytest

from conftest import draw_photo
from facefake_core import ModelLoadError, load_model
from facefake_core.model import convert


def test_round_trip_same_probabilities_and_heatmaps(model, tmp_path, monkeypatch):
    folder = convert(model, tmp_path / "conv")

    def no_unpickling(*a, **k):
        raise AssertionError("a converted model must not be unpickled")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    conv = load_model(str(folder), device="cpu")
    assert conv.info.load_method == "safetensors"
    assert conv.info.vocab == model.info.vocab and conv.info.input_size == model.info.input_size
    for seed, (w, h) in enumerate([(180, 120), (100, 160)]):
        img = draw_photo(seed + 70, w, h)
        a, b = model.explain(img), conv.explain(img)
        assert a.probs == pytest.approx(b.probs, abs=1e-6)
        np.testing.assert_allclose(a.raw_cam, b.raw_cam, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-5)
        assert a.crop_box == b.crop_box


def test_broken_folder_is_a_model_load_error(model, tmp_path):
    folder = convert(model, tmp_path / "conv")
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ModelLoadError):
        load_model(str(folder), device="cpu")
    (folder / "model.json").unlink()
    with pytest.raises(ModelLoadError, match="missing model.json"):
        load_model(str(folder), device="cpu")
