"""``facefake serve``: the command it runs, settings checked before it starts, and a real start in public mode."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

from conftest import serve_dashboard
from facefake_core.cli import main
from facefake_core.cli.serve import APP


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_public_dry_run_names_the_app_and_the_public_settings(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("FACEFAKE_PUBLIC", raising=False)
    monkeypatch.delenv("FACEFAKE_MODEL_UPLOADS", raising=False)
    monkeypatch.setenv("FACEFAKE_SETS", f"mine={tmp_path}")
    code, out, _ = run(capsys, "serve", "--public", "--port", "8600", "--dry-run", "--json")
    got = json.loads(out)
    assert code == 0 and got["public"] and got["env"]["FACEFAKE_PUBLIC"] == "1"
    argv = got["argv"]
    assert argv[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)] and APP.is_file()
    flags = dict(zip(argv[5::2], argv[6::2]))
    assert flags["--server.port"] == "8600" and flags["--client.showErrorDetails"] == "none"
    assert flags["--server.maxUploadSize"] == "50"
    monkeypatch.setenv("FACEFAKE_MODEL_UPLOADS", "1")
    _, out, _ = run(capsys, "serve", "--public", "--dry-run", "--json")
    assert "300" in json.loads(out)["argv"]


def test_local_dry_run_has_no_public_flags(capsys, monkeypatch):
    monkeypatch.delenv("FACEFAKE_PUBLIC", raising=False)
    code, out, _ = run(capsys, "serve", "--dry-run", "--json")
    got = json.loads(out)
    assert code == 0 and not got["public"] and "--client.showErrorDetails" not in got["argv"]


def test_bad_settings_stop_it_with_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEFAKE_SETS", f"gone={tmp_path / 'nope'}")
    code, out, err = run(capsys, "serve", "--public", "--dry-run")
    assert code == 2 and out == ""
    assert err.strip() == "error: FACEFAKE_SETS: gone: no such folder or .csv file"
    monkeypatch.setenv("FACEFAKE_SETS", "")
    monkeypatch.setenv("FACEFAKE_QUEUE_SLOTS", "none")
    code, _, err = run(capsys, "serve", "--dry-run")
    assert code == 2 and err.count("\n") == 1 and "FACEFAKE_QUEUE_SLOTS" in err


def test_serve_public_starts_a_real_server(learner_pkl, tmp_path):
    env = {**os.environ, "FACEFAKE_MODEL": str(learner_pkl), "FACEFAKE_STORE": str(tmp_path / "s.sqlite"),
           "FACEFAKE_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = lambda port: [sys.executable, "-m", "facefake_core", "serve", "--public", "--port", str(port),  # noqa
                            "--address", "127.0.0.1"]
    with serve_dashboard(env, tmp_path / "serve.log", 120, command) as url:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as r:
            assert r.status == 200
