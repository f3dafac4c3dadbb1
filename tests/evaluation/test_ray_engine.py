"""The ray engine against the local engine, on a real local Ray instance (``ray.init(num_cpus=2)``), no mocks.

The local engine is the reference (its rows are checked against fastai in test_runner.py): the ray engine must
store the same rows, survive a worker killed mid-batch and a driver killed with ``kill -9``, and turn an unreadable
file into an error row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facefake_core.cli import main
from facefake_core.errors import EngineError
from facefake_core.evaluation import Store, evaluate
from facefake_core.evaluation.ray_engine import CRASH_ONCE
from facefake_core.imaging.focus import FOCUS_VERSION

from conftest import make_image_folder

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module; its GCS address lets a second driver (a subprocess) join it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def runs(cluster, model, tmp_path_factory):
    """The local engine and the ray engine on one small set (3 fakes, 3 reals, one unreadable file), the ray run
    with a worker that kills itself (``os._exit``) inside its first batch. One ray run serves three tests: each
    actor pool costs a worker start and a model load."""
    tmp = tmp_path_factory.mktemp("runs")
    root = make_image_folder(tmp / "set", n=3)
    (root / "fake" / "broken.jpg").write_bytes(b"not an image at all")
    local_store, ray_store, marker, seen = Store(tmp / "local.db"), Store(tmp / "ray.db"), tmp / "crashed", []
    local = evaluate(model, root, store=local_store, batch_size=2)
    os.environ[CRASH_ONCE] = str(marker)
    try:
        remote = evaluate(model, root, store=ray_store, batch_size=2, engine="ray",
                          progress=lambda done, total, what: seen.append((done, total)))
    finally:
        del os.environ[CRASH_ONCE]
    return local, local_store, remote, ray_store, marker, seen


def test_ray_engine_stores_the_local_engines_rows(runs, model):
    local, local_store, remote, ray_store, _, _ = runs
    assert (local.engine, remote.engine) == ("local", "ray")
    assert remote.to_dict()["engine"] == "ray" and local.to_dict()["engine"] == "local"
    assert remote.computed == local.computed == 6 and remote.reused == 0
    shas = [r.image_sha for r in local.rows]
    sha = model.info.sha256
    a, b = local_store.get_results(sha, shas), ray_store.get_results(sha, shas)
    assert sorted(a) == sorted(b) == sorted(shas) and len(shas) == 6
    for h in shas:
        assert max(a[h].probs, key=a[h].probs.get) == max(b[h].probs, key=b[h].probs.get)
        np.testing.assert_allclose([b[h].probs[k] for k in model.vocab], [a[h].probs[k] for k in model.vocab],
                                   atol=1e-5)
        np.testing.assert_allclose(b[h].cam, a[h].cam, atol=1e-4)
        assert b[h].cam_layer == a[h].cam_layer
        shares = ("bokeh_share", "face_share")  # of the CAM's mass: as close as the CAMs
        assert {k: v for k, v in b[h].focus.items() if k not in shares} == {
            k: v for k, v in a[h].focus.items() if k not in shares}  # the focus measures, exactly
        np.testing.assert_allclose([b[h].focus[k] for k in shares], [a[h].focus[k] for k in shares], atol=1e-4)
    fa, fb = local_store.get_focus(shas, FOCUS_VERSION), ray_store.get_focus(shas, FOCUS_VERSION)
    assert sorted(fa) == sorted(fb) == sorted(shas)
    for h in shas:
        assert fa[h][0] == fb[h][0] and np.array_equal(fa[h][1], fb[h][1])
    fe_a, fe_b = local_store.get_features(sha, shas), ray_store.get_features(sha, shas)
    for h in shas:  # stored as float16: one rounding step apart at most
        np.testing.assert_allclose(fe_b[h], fe_a[h], rtol=2 ** -10, atol=1e-4)


def test_an_unreadable_file_is_an_error_row_as_in_the_local_engine(runs):
    local, _, remote, _, _, _ = runs
    assert len(remote.errors) == 1 and remote.errors[0].path.endswith("broken.jpg")
    assert [(r.path, r.error) for r in remote.errors] == [(r.path, r.error) for r in local.errors]


def test_a_ray_run_leaves_print_alone_so_learners_exported_after_it_load_safely(runs, tmp_path):
    """Ray Data's progress bars would swap builtins.print for ray's own; a learner exported afterwards in the same
    process (the dashboard fine-tunes and exports) would then name ray.experimental.tqdm_ray.safe_print, which the
    safe loader refuses."""
    import builtins

    from facefake_core import load_model

    from conftest import export_learner

    assert builtins.print.__module__ == "builtins", builtins.print.__module__
    pkl = export_learner(tmp_path / "after_ray", "resnet18", size=64)
    assert load_model(str(pkl), device="cpu").vocab == ("fake", "real")


def test_a_killed_worker_s_batch_is_retried_and_stored_once(runs, model):
    _, _, remote, ray_store, marker, seen = runs
    pid = int(marker.read_text())  # an actor did die: it wrote its pid, then os._exit(1) inside its first batch
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert len(remote.rows) == 6 and ray_store.count_results(model.info.sha256) == 6
    # progress counts the images of each batch the driver stores: a batch delivered twice would pass the total
    assert seen[0] == (0, 7) and seen[-1] == (7, 7) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def _stored(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.2) as con:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not there yet, or the writer holds the lock
        return 0


def _kaggle_replica(root: Path) -> Path:
    """Kaggle's 140k layout in small: ``real_vs_fake/real-vs-fake/{train,valid,test}/{fake,real}/``."""
    top = root / "real_vs_fake" / "real-vs-fake"
    make_image_folder(top / "test", n=6)
    for split in ("train", "valid"):
        make_image_folder(top / split, n=1)
    return top


def test_a_driver_killed_with_kill_9_resumes_with_what_is_missing(cluster, learner_pkl, tmp_path, capsys):
    top = _kaggle_replica(tmp_path)
    db = tmp_path / "ray.db"
    args = ["evaluate", str(top), "--split", "test", "--model", str(learner_pkl), "--batch-size", "2", "--no-focus",
            "--no-ci", "--json"]
    ray_args = [*args, "--store", str(db), "--engine", "ray", "--address", cluster]
    proc = subprocess.Popen([sys.executable, "-m", "facefake_core", *ray_args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.monotonic() + 180
    while _stored(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _stored(db)
    assert 0 < before < 12, proc.stderr.read().decode()[-2000:]
    assert main(ray_args) == 0  # started again, on the same cluster
    out = json.loads(capsys.readouterr().out)  # stdout is the JSON alone: Ray's lines are quiet
    assert out["engine"] == "ray"
    assert (out["computed"], out["reused"]) == (12 - before, before)
    assert _stored(db) == 12 and len(out["rows"]) == 12 and not out["errors"]
    # and the rows are the local engine's, read from the CLI's JSON as a user would
    assert main([*args, "--store", str(tmp_path / "local.db")]) == 0
    local = json.loads(capsys.readouterr().out)
    assert local["engine"] == "local"
    assert [(r["path"], r["label"], r["pred"]) for r in out["rows"]] == [
        (r["path"], r["label"], r["pred"]) for r in local["rows"]]
    for r, q in zip(out["rows"], local["rows"]):
        assert r["probs"] == pytest.approx(q["probs"], abs=1e-5)


def test_without_ray_the_engine_is_a_one_line_error(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does where Ray is not installed
    with pytest.raises(EngineError, match=r'pip install "ray\[data\]==2\.60\.0"'):
        evaluate(model, make_image_folder(tmp_path / "set", n=1), store=Store(tmp_path / "s.db"), engine="ray")
    assert main(["evaluate", str(tmp_path / "set"), "--model", str(model.info.path), "--store",
                 str(tmp_path / "s.db"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the ray engine needs Ray Data") and "Traceback" not in "".join(err)


def test_an_unreachable_cluster_is_a_one_line_error(learner_pkl, tmp_path):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a fresh process (this one is connected already); ray.init alone would retry for minutes
    folder = make_image_folder(tmp_path / "set", n=1)
    cmd = [sys.executable, "-m", "facefake_core", "evaluate", str(folder), "--model", str(learner_pkl), "--store",
           str(tmp_path / "s.db"), "--engine", "ray", "--address", f"127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    err = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr[-2000:]
    assert err[-1].startswith(f"error: no Ray cluster answers at 127.0.0.1:{port}") and "ray start --head" in err[-1]
