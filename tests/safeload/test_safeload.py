"""Tests for ``facefake_core.safeload``: safe, version-proof loading of ``learn.export`` pickles.

Expected probabilities come from fastai itself: its own ``load_learner`` on the same file (2.8 exports), or
fastai 2.7.19's ``learn.predict`` recorded in ``fixtures/fastai27_expected.json`` by
``fixtures/make_fastai27_fixture.py``. Hostile pickles are written here; a sentinel file shows none ran.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pathlib
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from facefake_core import ModelLoadError, UnsafeModelError
from facefake_core.safeload import LoadReport, load_learner_safely

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_fastai27_fixture", FIXTURES / "make_fastai27_fixture.py")
fixture27 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture27)  # defines fixture_image(); fastai 2.7 is only imported by its main()
draw = fixture27.fixture_image

SIZE = 32
PROBE_IMAGES = ((11, 48, 36), (12, 36, 48))


# -- helpers ------------------------------------------------------------------------------------------------
def _probs(learn: Any, seed: int, width: int, height: int) -> np.ndarray:
    with learn.no_bar():
        return learn.predict(draw(seed, width, height))[2].numpy()


def _assert_predicts_like(learn: Any, reference: Any) -> None:
    for seed, width, height in PROBE_IMAGES:
        np.testing.assert_allclose(_probs(learn, seed, width, height), _probs(reference, seed, width, height),
                                   atol=1e-5, rtol=0)


def _fastai_load(path: Path) -> Any:
    from fastai.learner import load_learner

    return load_learner(path, cpu=True)


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert text and "\n" not in text
    return text


def _build(data: Path, arch: str, label_func: Any = None) -> Any:
    """``vision_learner(dls, arch, pretrained=False)`` the seed's way, with moderate (unsaturated) outputs."""
    from fastai.vision import all as fv

    torch.manual_seed(0)
    common = dict(valid_pct=0.25, seed=42, item_tfms=fv.Resize(SIZE), bs=2, num_workers=0,
                  batch_tfms=[*fv.aug_transforms(), fv.Normalize.from_stats(*fv.imagenet_stats)])
    if label_func is None:
        dls = fv.ImageDataLoaders.from_folder(data, **common)
    else:
        dls = fv.ImageDataLoaders.from_path_func(data, fv.get_image_files(data), label_func, **common)
    learn = fv.vision_learner(dls, getattr(fv, arch), pretrained=False, metrics=fv.error_rate)
    with torch.no_grad():  # random-init BatchNorm stats give near-identical outputs; spread them out
        for m in learn.model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        learn.model[1][-1].weight.mul_(0.05)
    return learn


def _export(learn: Any, out: Path, **kwargs: Any) -> Path:
    learn.path = out.parent
    learn.export(out.name, **kwargs)
    return out


def _notebook_label_func() -> Any:
    """``label_func`` as a notebook defines it: a function whose module is ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec("def label_func(path):\n    return path.parent.name\n", namespace)
    return namespace["label_func"]


class _WindowsPathOnExport(pathlib.PosixPath):
    """Pickles as ``pathlib.WindowsPath``, as ``learn.path`` does in a learner exported on Windows."""

    def __reduce__(self) -> Any:
        return pathlib.WindowsPath, ("C:\\Users\\me\\faces",)


# -- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("safeload_data")
    for k, label in enumerate(("fake", "real")):
        (root / label).mkdir()
        for i in range(4):
            draw(100 * k + i, 40, 40).save(root / label / f"{label}_{i}.png")
    return root


@pytest.fixture(scope="module")
def r18(data_dir) -> Any:
    return _build(data_dir, "resnet18")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("safeload_exports")


# -- genuine fastai 2.8 exports -----------------------------------------------------------------------------
def test_resnet50_export_loads_safely_and_predicts_like_fastai(data_dir, exports):
    pkl = _export(_build(data_dir, "resnet50"), exports / "r50.pkl")  # cloudpickle, protocol 2: fastai's default
    learn, report = load_learner_safely(pkl)
    assert isinstance(report, LoadReport)
    assert report.method == "safe-pickle" and report.fastai_version == "2.8"
    # cloudpickle ships PILImage.create by value: it must be replaced, never rebuilt from the file's code.
    assert "cloudpickle.cloudpickle._make_function" in report.stubbed
    assert any(r.startswith("fastai.vision.core.PILBase.create (by value)") for r in report.remapped)
    assert not any(s.startswith("__main__.") for s in report.stubbed)
    assert list(learn.dls.vocab) == ["fake", "real"]
    for after_item in (learn.dls.after_item, learn.dls.valid.after_item):
        assert [type(t).__name__ for t in after_item.fs] == ["Resize", "ToTensor"]
    assert {"IntToFloatTensor", "Normalize"} <= {type(t).__name__ for t in learn.dls.after_batch.fs}
    assert learn.model[0][-1][-1].conv3.out_channels == 2048  # resnet50's layer4
    first, second = (_probs(learn, *image) for image in PROBE_IMAGES)
    assert 0.02 < first[0] < 0.98 and abs(first[0] - second[0]) > 1e-3  # outputs the comparison can see
    _assert_predicts_like(learn, _fastai_load(pkl))


@pytest.mark.parametrize("module, protocol", [("cloudpickle", 4), ("cloudpickle", 5), ("pickle", 2),
                                              ("pickle", 4)])
def test_resnet18_exports_in_other_protocols_load_like_fastai(r18, exports, module, protocol):
    pickle_module = pickle if module == "pickle" else __import__("cloudpickle")
    pkl = _export(r18, exports / f"r18_{module}{protocol}.pkl", pickle_module=pickle_module,
                  pickle_protocol=protocol)
    learn, report = load_learner_safely(pkl)
    assert report.fastai_version == "2.8"
    _assert_predicts_like(learn, _fastai_load(pkl))


@pytest.mark.parametrize("arch", ["squeezenet1_1"])
def test_other_vision_learners_load_like_fastai(data_dir, exports, arch):
    pkl = _export(_build(data_dir, arch), exports / f"{arch}.pkl")
    learn, _ = load_learner_safely(pkl)
    _assert_predicts_like(learn, _fastai_load(pkl))


def test_mixed_precision_learner_loads_like_fastai(data_dir, exports):
    pkl = _export(_build(data_dir, "squeezenet1_1").to_fp16(), exports / "fp16.pkl")
    learn, _ = load_learner_safely(pkl)
    assert not hasattr(learn, "mixed_precision")  # put back to fp32 for the CPU, as load_learner does
    _assert_predicts_like(learn, _fastai_load(pkl))


def test_trusted_mode_uses_fastai_load_learner(r18, exports):
    pkl = _export(r18, exports / "r18_trusted.pkl")
    learn, report = load_learner_safely(pkl, trust=True)
    assert report == LoadReport(method="trusted-pickle", fastai_version="2.8")
    _assert_predicts_like(learn, _fastai_load(pkl))


# -- fastai 2.7 exports -------------------------------------------------------------------------------------
def test_fastai27_export_predicts_as_fastai27_did():
    expected = json.loads((FIXTURES / "fastai27_expected.json").read_text())
    learn, report = load_learner_safely(FIXTURES / expected["pkl"])
    assert report.fastai_version == "2.7"
    assert "fastcore.transform.Transform -> fasttransform.transform.Transform" in report.remapped
    assert list(learn.dls.vocab) == expected["vocab"]
    for image in expected["images"]:
        with learn.no_bar():
            label, _, probs = learn.predict(draw(image["seed"], image["width"], image["height"]))
        assert str(label) == image["label"]
        np.testing.assert_allclose(probs.numpy(), image["probs"], atol=1e-5, rtol=0)


def test_fastai27_export_is_refused_by_fastai28_in_trusted_mode():
    # Why the safe loader maps 2.7 names: fastai 2.8's own load_learner cannot read the file.
    with pytest.raises(ModelLoadError) as err:
        load_learner_safely(FIXTURES / "fastai27_squeezenet1_1.pkl", trust=True)
    _one_line(err)


# -- notebook functions and Windows paths -------------------------------------------------------------------
@pytest.mark.parametrize("module", ["cloudpickle", "pickle"])
def test_main_label_function_is_replaced_by_a_stand_in(data_dir, exports, monkeypatch, module):
    func = _notebook_label_func()
    monkeypatch.setattr(sys.modules["__main__"], "label_func", func, raising=False)  # plain pickle looks it up
    learn_before = _build(data_dir, "resnet18", label_func=func)
    pickle_module = pickle if module == "pickle" else __import__("cloudpickle")
    pkl = _export(learn_before, exports / f"main_{module}.pkl", pickle_module=pickle_module)
    assert b"label_func" in zipfile.ZipFile(pkl).read(f"main_{module}/data.pkl")
    monkeypatch.delattr(sys.modules["__main__"], "label_func")

    learn, report = load_learner_safely(pkl)
    assert "__main__.label_func" in report.stubbed
    _assert_predicts_like(learn, learn_before)
    label_tfm = learn.dls.valid.dataset.tls[1].tfms.fs[0]
    with pytest.raises(ModelLoadError, match="label_func"):
        label_tfm(Path("faces/fake/a.png"))


def test_learner_exported_on_windows_loads(r18, exports):
    pkl = exports / "windows.pkl"
    old_path = r18.path
    r18.path = _WindowsPathOnExport(exports)
    try:
        r18.export(pkl.name)
    finally:
        r18.path = old_path
    assert b"WindowsPath" in zipfile.ZipFile(pkl).read("windows/data.pkl")
    learn, report = load_learner_safely(pkl)
    assert "pathlib.WindowsPath -> pathlib.Path" in report.remapped
    assert learn.path == Path("C:\\Users\\me\\faces")
    _assert_predicts_like(learn, r18)


# -- hostile pickles ----------------------------------------------------------------------------------------
class _Payload:
    """Pickles as the ``__reduce__`` value it holds; callable, so it may stand where pickle wants a callable."""

    def __init__(self, reduce_value: tuple) -> None:
        self.reduce_value = reduce_value

    def __reduce__(self) -> tuple:
        return self.reduce_value

    def __call__(self, *args: Any) -> None:
        raise AssertionError("only pickled, never called")


def _hostile(sentinel: Path) -> dict[str, tuple[Any, str]]:
    """name -> (object or ``protocol -> bytes``, text the refusal must name). Each would touch ``sentinel``."""
    from cloudpickle.cloudpickle import subimport
    from fastai.vision.core import PILImage
    from fastcore.foundation import L
    from fastcore.xtras import run

    s = str(sentinel)
    touch, write = f"touch {s}", f"open({s!r}, 'w').close()"
    return {
        "os.system": (_Payload((os.system, (touch,))), f"{os.system.__module__}.system"),
        "eval": (_Payload((eval, (write,))), "builtins.eval"),
        "exec": (_Payload((exec, (write,))), "builtins.exec"),
        "subprocess.Popen": (_Payload((subprocess.Popen, (["touch", s],))), "subprocess.Popen"),
        "partial(os.system)": (_Payload((functools.partial(os.system, touch), ())), "system"),
        "Path.write_text": (_Payload((pathlib.Path.write_text, (pathlib.Path(s), "x"))), "write_text"),
        "fastcore.xtras.run": (_Payload((run, (touch,))), "fastcore.xtras.run"),
        "getattr(os, 'system')": (
            _Payload((_Payload((getattr, (_Payload((subimport, ("os",))), "system"))), (touch,))), "getattr"),
        "getattr(object, '__subclasses__')": (
            _Payload((_Payload((getattr, (object, "__subclasses__"))), ())), "__subclasses__"),
        "call an allowed getattr result": (
            _Payload((_Payload((getattr, (PILImage, "create"))), (s,))), "may not call"),
        "list() over a rebuilt fastai object": (_Payload((list, (L([s]),))), "plain data"),
        "NEWOBJ tuple from a rebuilt fastai object": (  # tuple.__new__ would iterate the L
            lambda p: bytes([0x80, p]) + b"cbuiltins\ntuple\n" + pickle.dumps(L([s]), protocol=2)[2:-1]
            + b"\x85\x81.", "plain data"),
        "dotted GLOBAL opcode": (lambda p: bytes([0x80, p]) + b"cpathlib\nPath.write_text\n.", "write_text"),
        "BUILD patching an allowed class": (  # Learner.predict = print, for the whole process
            lambda p: bytes([0x80, p]) + b"cfastai.learner\nLearner\nN}X\x07\x00\x00\x00predict"
                                         b"cbuiltins\nprint\ns\x86b.", "BUILD"),
        # Classes of the trusted packages that the admission rule refuses.
        "a module whose __setstate__ has side effects": (  # DDP's touches its reducer and process group
            lambda p: bytes([0x80, p]) + b"ctorch.nn.parallel.distributed\nDistributedDataParallel\n)\x81}b.",
            "DistributedDataParallel.__setstate__"),
        "a trusted class that is no module, transform or callback": (
            lambda p: bytes([0x80, p]) + b"ctorch.utils.data.dataloader\nDataLoader\n)\x81.", "neither on the allowlist"),
        # An admitted callback given a __setstate__ by one BUILD, which a second BUILD would call with its state.
        "BUILD planting __setstate__ in an admitted object": (
            lambda p: bytes([0x80, p]) + b"cfastai.callback.mixup\nMixUp\n)\x81}X\x0c\x00\x00\x00__setstate__"
                                         b"cbuiltins\nprint\nsb}b.", "special attributes"),
        # APPENDS calls the target's own extend(): an admitted ModuleList's, or one its state planted.
        "APPENDS into an admitted object": (
            lambda p: bytes([0x80, p]) + b"ctorch.nn.modules.container\nModuleList\n)\x81(K\x01e.",
            "would run the methods"),
    }


LIVE = ["os.system", "eval", "exec", "subprocess.Popen", "partial(os.system)", "Path.write_text",
        "fastcore.xtras.run", "getattr(os, 'system')"]


def _write(payload: Any, container: str, protocol: int, out: Path) -> Path:
    data = payload(protocol) if callable(payload) and not isinstance(payload, _Payload) else (
        pickle.dumps(payload, protocol=protocol))
    if container == "raw":
        out.write_bytes(data)
    else:
        _torch_zip_with(data, out)
    return out


def _torch_zip_with(data_pkl: bytes, out: Path) -> None:
    """A torch.save zip archive whose ``data.pkl`` record is ``data_pkl``."""
    torch.save({}, out)
    with zipfile.ZipFile(out) as src:
        records = {name: src.read(name) for name in src.namelist()}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name, body in records.items():
            dst.writestr(name, data_pkl if name.endswith("/data.pkl") else body)


@pytest.mark.parametrize("name", LIVE)
def test_hostile_payloads_are_live_under_plain_pickle(tmp_path, name):
    # The control: each payload below really runs when unpickled without the safe loader.
    sentinel = tmp_path / "pwned"
    result = pickle.loads(pickle.dumps(_hostile(sentinel)[name][0], protocol=2))
    if isinstance(result, subprocess.Popen):
        result.wait()
    assert sentinel.exists()


@pytest.mark.parametrize("container", ["raw", "torch"])
@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("name", LIVE + ["getattr(object, '__subclasses__')", "call an allowed getattr result",
                                         "list() over a rebuilt fastai object",
                                         "NEWOBJ tuple from a rebuilt fastai object", "dotted GLOBAL opcode",
                                         "BUILD patching an allowed class",
                                         "a module whose __setstate__ has side effects",
                                         "a trusted class that is no module, transform or callback",
                                         "BUILD planting __setstate__ in an admitted object",
                                         "APPENDS into an admitted object"])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, name, protocol, container):
    from fastai.learner import Learner

    predict = Learner.predict
    sentinel = tmp_path / "pwned"
    payload, named = _hostile(sentinel)[name]
    pkl = _write(payload, container, protocol, tmp_path / "model.pkl")
    with pytest.raises(UnsafeModelError) as err:
        load_learner_safely(pkl)
    assert named in _one_line(err)
    assert not sentinel.exists()
    assert Learner.predict is predict


@pytest.mark.parametrize("protocol", [2, 4])
def test_genuine_learner_with_a_payload_in_a_module_is_refused(r18, exports, tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    r18.model[1].payload = _Payload((os.system, (f"touch {sentinel}",)))
    try:
        pkl = _export(r18, exports / f"r18_payload{protocol}.pkl", pickle_protocol=protocol)
    finally:
        del r18.model[1].payload
    with pytest.raises(UnsafeModelError) as err:
        load_learner_safely(pkl)
    assert "system" in _one_line(err)
    assert not sentinel.exists()


@pytest.mark.parametrize("where", ["callback", "item transform", "batch transform", "loss"])
def test_payload_hidden_in_an_admitted_objects_state_is_refused(data_dir, exports, tmp_path, where):
    # MixUp, RandomResizedCrop, RandomResizedCropGPU and LabelSmoothingCrossEntropy are admitted by rule; what
    # their state holds is still unpickled under the exact rules for calls.
    from fastai.vision import all as fv

    sentinel = tmp_path / "pwned"
    dls = fv.ImageDataLoaders.from_folder(data_dir, valid_pct=0.25, seed=42, bs=2, num_workers=0,
                                          item_tfms=fv.RandomResizedCrop(SIZE),
                                          batch_tfms=fv.aug_transforms(size=SIZE, min_scale=0.75))
    learn = fv.vision_learner(dls, fv.squeezenet1_1, pretrained=False, cbs=fv.MixUp(0.2),
                              loss_func=fv.LabelSmoothingCrossEntropy())
    host = {"callback": next(cb for cb in learn.cbs if type(cb).__name__ == "MixUp"), "item transform": dls.after_item.fs[0], "loss": learn.loss_func,
            "batch transform": next(t for t in dls.after_batch.fs if type(t).__name__ == "RandomResizedCropGPU")}
    assert type(host["item transform"]).__name__ == "RandomResizedCrop"
    host[where].__dict__["payload"] = _Payload((os.system, (f"touch {sentinel}",)))
    pkl = _export(learn, exports / f"payload_{where.replace(' ', '_')}.pkl")
    with pytest.raises(UnsafeModelError) as err:
        load_learner_safely(pkl)
    assert "system" in _one_line(err) and "--trust-pickle" in _one_line(err)
    assert not sentinel.exists()


def test_every_vetted_hook_exists():
    # A vetted name that no longer matches an implementation (a renamed torch or fastai method) vets nothing.
    from facefake_core.safeload import allowlist as al
    from facefake_core.safeload.standins import resolve

    for impl in al.VETTED_HOOKS:
        module, owner, hook = impl.rsplit(".", 2)
        if module.split(".")[0] in ("timm",) and importlib.util.find_spec("timm") is None:
            continue
        assert hook in vars(resolve(module, owner)), impl


# -- files that are not learners ----------------------------------------------------------------------------
def test_truncated_export_is_a_model_load_error(r18, exports, tmp_path):
    whole = _export(r18, exports / "r18_whole.pkl").read_bytes()
    with zipfile.ZipFile(exports / "r18_whole.pkl") as zf:
        data_pkl = zf.read("r18_whole/data.pkl")
    cut_file, cut_record = tmp_path / "cut.pkl", tmp_path / "cut_record.pkl"
    cut_file.write_bytes(whole[: len(whole) // 2])
    _torch_zip_with(data_pkl[: len(data_pkl) // 2], cut_record)
    for path in (cut_file, cut_record):
        with pytest.raises(ModelLoadError) as err:
            load_learner_safely(path)
        assert not isinstance(err.value, UnsafeModelError)
        assert path.name in _one_line(err)


def test_random_bytes_are_a_model_load_error(tmp_path):
    junk = np.random.default_rng(0).bytes(4096)
    assert junk[:1] != b"\x80" and junk[:2] != b"PK"
    (tmp_path / "junk.pkl").write_bytes(junk)
    with pytest.raises(ModelLoadError) as err:
        load_learner_safely(tmp_path / "junk.pkl")
    assert "not a fastai learner" in _one_line(err)


@pytest.mark.parametrize("container, protocol", [("raw", 2), ("raw", 4), ("torch", 2), ("torch", 4)])
def test_pickle_of_a_plain_dict_is_a_model_load_error(tmp_path, container, protocol):
    pkl = _write({"weights": [1, 2, 3]}, container, protocol, tmp_path / "dict.pkl")
    with pytest.raises(ModelLoadError) as err:
        load_learner_safely(pkl)
    assert not isinstance(err.value, UnsafeModelError)
    assert "dict, not a fastai Learner" in _one_line(err)


def test_missing_empty_and_directory_paths_are_model_load_errors(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    for path in (tmp_path / "absent.pkl", tmp_path / "empty.pkl", tmp_path):
        with pytest.raises(ModelLoadError) as err:
            load_learner_safely(path)
        _one_line(err)
