"""Issue 8: hostile and odd inputs, concurrency, leaks, interrupted runs. Nothing crashes, nothing is lost.

The corpus is generated here. Every readable kind must predict, explain and evaluate; every broken kind must
give a one-line error naming the file, and never stop a batch.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import draw_photo
from facefake_core import CONFIG, ImageLoadError, evaluate
from facefake_core.evaluation import Store
from facefake_core.imaging import load_photo

ROOT = Path(__file__).resolve().parents[1]


def _png_with_declared_size(w: int, h: int) -> bytes:
    """A tiny valid PNG whose IHDR claims ``w x h`` pixels (a decompression bomb's header)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def readable_corpus(d: Path) -> dict[str, Path]:
    """Readable inputs of many kinds: name -> file."""
    rgb = Image.fromarray(draw_photo(1, 160, 120))
    grey = rgb.convert("L")
    files = {
        "grayscale.png": _save(grey, "PNG"),
        "16bit.png": _save(Image.fromarray((np.asarray(grey, np.uint16) * 257)), "PNG"),
        "float.tiff": _save(Image.fromarray(np.asarray(grey, np.float32) / 255.0), "TIFF"),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "palette_transparent.png": _save(rgb.convert("P"), "PNG", transparency=0),
        "rgba.png": _save(rgb.convert("RGBA"), "PNG"),
        "la.png": _save(grey.convert("LA"), "PNG"),
        "animated.gif": _save(rgb.convert("P"), "GIF", save_all=True,
                              append_images=[Image.fromarray(draw_photo(2, 160, 120)).convert("P")], duration=100),
        "photo.webp": _save(rgb, "WEBP"),
        "jpeg_named.png": _save(rgb, "JPEG"),
        "name with spaces é ñ 写真.jpg": _save(rgb, "JPEG"),
        "large.jpg": _save(Image.fromarray(draw_photo(3, 4000, 3000)), "JPEG", quality=80),
        "tiny.png": _save(Image.fromarray(draw_photo(4, 3, 2)), "PNG"),
        "bmp.bmp": _save(rgb, "BMP"),
    }
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    return out


def broken_corpus(d: Path) -> dict[str, Path]:
    """Broken or hostile inputs: name -> path (each must be refused with a one-line error naming it)."""
    good_jpg = _save(Image.fromarray(draw_photo(5, 200, 150)), "JPEG")
    good_png = _save(Image.fromarray(draw_photo(5, 200, 150)), "PNG")
    files = {
        "empty.jpg": b"",
        "truncated.jpg": good_jpg[: len(good_jpg) // 3],
        "truncated.png": good_png[: len(good_png) // 3],
        "text.jpg": b"hello, this is not a picture\n" * 10,
        "page.png": b"<!DOCTYPE html><html><body>nope</body></html>",
        "vector.svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "bomb.png": _png_with_declared_size(100_000, 100_000),
    }
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    (d / "dangling.jpg").symlink_to(d / "does-not-exist.jpg")
    out["dangling.jpg"] = d / "dangling.jpg"
    (d / "folder.jpg").mkdir()
    out["folder.jpg"] = d / "folder.jpg"
    os.mkfifo(d / "pipe.jpg")
    out["pipe.jpg"] = d / "pipe.jpg"
    (d / "loop_a.jpg").symlink_to(d / "loop_b.jpg")
    (d / "loop_b.jpg").symlink_to(d / "loop_a.jpg")
    out["loop_a.jpg"] = d / "loop_a.jpg"
    if os.geteuid() != 0:  # root reads a mode-000 file anyway, so this case only means something for users
        (d / "unreadable.jpg").write_bytes(good_jpg)
        (d / "unreadable.jpg").chmod(0)
        out["unreadable.jpg"] = d / "unreadable.jpg"
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    (d / "ok").mkdir()
    (d / "bad").mkdir()
    return readable_corpus(d / "ok"), broken_corpus(d / "bad")


def test_corpus_has_at_least_twenty_kinds(corpus):
    ok, bad = corpus
    assert len(ok) + len(bad) >= 20


def test_readable_kinds_predict_and_explain(model, corpus):
    ok, _ = corpus
    for name, path in ok.items():
        photo = load_photo(path)
        assert photo.pixels.dtype == np.uint8 and photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3, name
        e = model.explain(path)
        assert e.heatmap.shape == photo.pixels.shape[:2], name
        assert abs(sum(model.predict(path).probs.values()) - 1) < 1e-5, name
    assert load_photo(ok["animated.gif"]).notes == ("first frame of 2",)
    g = load_photo(ok["16bit.png"]).pixels
    assert g.max() > 200  # scaled from 16 bits, not clipped to white or crushed to black
    assert load_photo(ok["float.tiff"]).pixels.max() > 200


def test_broken_kinds_get_one_line_errors_naming_the_file(model, corpus):
    _, bad = corpus
    for name, path in bad.items():
        for call in (load_photo, model.predict, model.explain):
            with pytest.raises(ImageLoadError) as err:
                call(path)
            msg = str(err.value)
            assert name in msg and "\n" not in msg, (name, msg)


def test_evaluate_survives_the_whole_corpus(model, corpus, tmp_path):
    ok, bad = corpus
    for label, group in (("fake", ok), ("real", bad)):
        (tmp_path / "set" / label).mkdir(parents=True)
        for name, path in group.items():
            (tmp_path / "set" / label / name).symlink_to(path, target_is_directory=path.is_dir())
    # a readable image in the real class too, so both classes have rows
    Image.fromarray(draw_photo(9, 90, 90)).save(tmp_path / "set" / "real" / "fine.png")
    ev = evaluate(model, tmp_path / "set", store=Store(tmp_path / "s.sqlite"), batch_size=4)
    assert len(ev.rows) == len(ok) + 1
    assert {Path(r.path).name for r in ev.errors} == set(bad)
    assert all("\n" not in r.error for r in ev.errors)


def test_limits_are_enforced_with_a_clear_message(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.fromarray(draw_photo(1, 300, 200)).save(p)
    with pytest.raises(ImageLoadError, match="over the 50,000-pixel limit"):
        load_photo(p, max_pixels=50_000)
    from facefake_core.imaging import photo as images

    monkeypatch.setattr(images, "CONFIG", type(CONFIG)(max_file_bytes=1000))
    with pytest.raises(ImageLoadError, match="over the"):
        load_photo(p)


# -- concurrency ---------------------------------------------------------------------------------------------
def test_threads_share_one_model_and_get_serial_results(model):
    photos = [draw_photo(200 + i, 100 + 7 * i, 90 + 5 * i) for i in range(8)]
    calls = [(i, t % 8, "explain" if (i + t) % 2 else "predict") for i in range(8) for t in range(25)]

    def run(k, which):
        if which == "explain":
            e = model.explain(photos[k])
            return e.probs, e.raw_cam
        return model.predict(photos[k]).probs, None

    serial = {(k, w): run(k, w) for k in range(8) for w in ("explain", "predict")}
    results, errors = {}, []

    def worker(i):
        try:
            for (j, k, w) in calls:
                if j == i:
                    results[(i, k, w, len(results))] = ((k, w), run(k, w))
        except Exception as err:  # noqa: BLE001 - any failure in a thread must fail the test
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 200
    for key, (probs, cam) in results.values():
        s_probs, s_cam = serial[key]
        assert probs == pytest.approx(s_probs, abs=1e-6)
        if cam is not None:
            np.testing.assert_allclose(cam, s_cam, rtol=1e-4, atol=1e-6)
    assert all(len(m._forward_hooks) == 0 and len(m._backward_hooks) == 0 for m in model.net.modules())


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_no_memory_growth_over_200_calls(model):
    img = draw_photo(300, 160, 120)
    for _ in range(20):
        model.explain(img)
    start = _rss_mb()
    for i in range(200):
        (model.explain if i % 2 else model.predict)(img)
    grown = _rss_mb() - start
    assert grown < 40, f"RSS grew by {grown:.1f} MB over 200 calls"


def test_two_concurrent_evaluations_share_the_store(model, tmp_path):
    for k, label in enumerate(["fake", "real"]):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(draw_photo(400 + 10 * k + i, 90, 90)).save(tmp_path / "set" / label / f"{i}.png")
    store_path = tmp_path / "s.sqlite"
    out, errors = [], []

    def run():
        try:
            out.append(evaluate(model, tmp_path / "set", store=Store(store_path), batch_size=2))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Store(store_path).count_results(model.info.sha256) == 12
    a, b = out
    for ra, rb in zip(a.rows, b.rows):
        assert ra.probs == pytest.approx(rb.probs, abs=1e-5)


# -- durability ------------------------------------------------------------------------------------------------
def test_kill_9_mid_evaluate_then_resume(learner_pkl, model, tmp_path):
    n = 40
    for k, label in enumerate(["fake", "real"]):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(draw_photo(600 + 50 * k + i, 110, 100)).save(tmp_path / "set" / label / f"{i}.png")
    store_path = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "facefake_core", "evaluate", str(tmp_path / "set"), "--model",
                             str(learner_pkl), "--store", str(store_path), "--batch-size", "2", "--json"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if store is None and store_path.exists():
                store = Store(store_path)
            if store is not None and store.count_results() >= 6:
                break
            assert proc.poll() is None, "evaluation finished before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    stored_before = Store(store_path).count_results(model.info.sha256)
    assert 6 <= stored_before < n
    ev = evaluate(model, tmp_path / "set", store=Store(store_path), batch_size=4)
    assert ev.computed == n - stored_before  # resumed: only the missing images were computed
    assert len(ev.rows) == n and not ev.errors
    assert Store(store_path).count_results(model.info.sha256) == n  # each once
    for r in ev.rows[:5]:
        assert r.probs == pytest.approx(model.predict(r.path).probs, abs=1e-5)


def test_triage_marks_survive_a_restart(tmp_path):
    Store(tmp_path / "s.sqlite").set_mark("m" * 64, "i" * 64, "model wrong", "/x.png", "fake")
    assert Store(tmp_path / "s.sqlite").marks("m" * 64)["i" * 64]["mark"] == "model wrong"


# -- models ------------------------------------------------------------------------------------------------------
def _non_image_learner(tmp_path) -> Path:
    """A fastai Learner on image data whose model is a flat linear layer: no convolutional body to explain."""
    import torch
    from fastai.vision.all import ImageDataLoaders, Learner, Normalize, Resize, imagenet_stats

    from conftest import make_image_folder

    dls = ImageDataLoaders.from_folder(make_image_folder(tmp_path / "data", n=2), valid_pct=0.5, seed=1,
                                       item_tfms=Resize(32), batch_tfms=[Normalize.from_stats(*imagenet_stats)],
                                       bs=2, num_workers=0)
    learn = Learner(dls, torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2)))
    learn.path = tmp_path
    learn.export(tmp_path / "flat.pkl")
    return tmp_path / "flat.pkl"


@pytest.mark.parametrize("case", ["not_a_learner", "truncated", "non_image_head", "hub_repo_missing",
                                  "hub_file_missing"])
def test_bad_models_get_one_line_model_load_errors(case, learner_pkl, tmp_path, monkeypatch):
    import pickle
    import shutil

    from huggingface_hub import constants

    from facefake_core import ModelLoadError, load_model

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    if case == "not_a_learner":
        src = tmp_path / "dict.pkl"
        src.write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    elif case == "truncated":
        src = tmp_path / "cut.pkl"
        src.write_bytes(learner_pkl.read_bytes()[: learner_pkl.stat().st_size // 2])
    elif case == "non_image_head":
        src = _non_image_learner(tmp_path)
    elif case == "hub_repo_missing":
        src = "hf://nobody/no-such-repo/model.pkl"
    else:  # the repo is cached, the file is not: an offline cache miss
        folder = tmp_path / "hub" / "models--owner--repo"
        (folder / "refs").mkdir(parents=True)
        (folder / "refs" / "main").write_text("b" * 40)
        (folder / "snapshots" / ("b" * 40)).mkdir(parents=True)
        shutil.copy(learner_pkl, folder / "snapshots" / ("b" * 40) / "other.pkl")
        src = "hf://owner/repo/missing.pkl"
    with pytest.raises(ModelLoadError) as err:
        load_model(str(src), device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300, msg
    if case.startswith("hub"):
        assert ("no-such-repo" if case == "hub_repo_missing" else "owner/repo") in msg


def test_dashboard_batch_upload_of_the_whole_corpus(corpus, env):
    """Every regular file of the corpus uploaded at once: readable ones predicted, broken ones one-line errors."""
    from test_dashboard import ok, start

    ok_files, bad = corpus
    uploads = [(name, p.read_bytes(), "application/octet-stream")
               for name, p in list(ok_files.items()) + list(bad.items()) if p.is_file() and not p.is_symlink()
               and not p.is_fifo()]
    at = start("views/batch.py")
    at.file_uploader(key="batch_uploads").set_value(uploads).run()
    ok(at)
    frame = at.dataframe[0].value
    assert list(frame["Name"]) == [u[0] for u in uploads]
    for name, err in zip(frame["Name"], frame["Error"]):
        if name in ok_files:
            assert err == "", (name, err)
        else:
            assert err.startswith(f"{name}: ") and "\n" not in err, (name, err)


from test_dashboard import env  # noqa: E402,F401  (the dashboard's environment fixture)
