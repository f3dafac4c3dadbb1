"""Operator settings, allowed paths, naming paths to visitors, and the upload area."""

from __future__ import annotations

import os

import pytest

from facefake_core import CONFIG, AccessError, QuotaError, SettingsError
from facefake_core.serving import (
    PROJECT_ROOT, Serving, UploadArea, public_name, readable, redact, visitor_folder_name, writable_folder,
)


def test_settings_from_the_environment(tmp_path):
    env = {"FACEFAKE_PUBLIC": "1", "FACEFAKE_SETS": f"demo2={tmp_path}, csv = {tmp_path / 'm.csv'}",
           "FACEFAKE_MODELS": "seed=hf://BA-Baracus/face-fake-or-not-v1/round2_final.pkl@main,mine=/m/a=b.pkl",
           "FACEFAKE_QUEUE_SLOTS": "3", "FACEFAKE_UPLOAD_QUOTA_MB": "10", "FACEFAKE_UPLOAD_TTL_H": "0.5",
           "FACEFAKE_MODEL_UPLOADS": "yes", "FACEFAKE_ROOTS": os.pathsep.join([str(tmp_path), "/srv"])}
    s = Serving.from_env(env)
    assert s.public and s.model_uploads and not s.login
    assert s.sets == {"demo2": tmp_path.resolve(), "csv": (tmp_path / "m.csv").resolve()}
    assert s.models == {"seed": "hf://BA-Baracus/face-fake-or-not-v1/round2_final.pkl@main", "mine": "/m/a=b.pkl"}
    assert (s.queue_slots, s.upload_quota_bytes, s.upload_ttl_s) == (3, 10 * 1024**2, 1800.0)
    assert s.roots == (tmp_path.resolve(), readable("/srv"))
    assert s.problems() == ["FACEFAKE_SETS: csv: no such folder or .csv file"]


def test_settings_defaults_are_local_mode_and_the_config():
    s = Serving.from_env({})
    assert not s.public and s.sets == {} and s.models == {} and s.roots == ()
    assert (s.queue_slots, s.upload_quota_bytes, s.upload_ttl_s) == (1, CONFIG.upload_quota_bytes, 24 * 3600.0)
    assert Serving.from_env({"FACEFAKE_PUBLIC": "0"}, public=True).public


def test_a_hugging_face_space_is_public_unless_the_operator_says_otherwise():
    assert Serving.from_env({"SPACE_ID": "someone/facefake"}).public
    assert not Serving.from_env({"SPACE_ID": "someone/facefake", "FACEFAKE_PUBLIC": "0"}).public


@pytest.mark.parametrize("env, words", [
    ({"FACEFAKE_PUBLIC": "maybe"}, "FACEFAKE_PUBLIC='maybe': use 1 or 0"),
    ({"FACEFAKE_SETS": "nameless"}, "'nameless' is not NAME=VALUE"),
    ({"FACEFAKE_SETS": "a=/x,a=/y"}, "listed twice"),
    ({"FACEFAKE_QUEUE_SLOTS": "0"}, "at least 1"),
    ({"FACEFAKE_UPLOAD_TTL_H": "soon"}, "not a number"),
])
def test_bad_settings_are_one_line(env, words):
    with pytest.raises(SettingsError, match=words) as err:
        Serving.from_env(env)
    assert "\n" not in str(err.value)


def test_readable_paths_must_lie_under_the_roots(tmp_path):
    inside = tmp_path / "root" / "a.png"
    inside.parent.mkdir()
    inside.write_bytes(b"x")
    assert readable(inside, [tmp_path / "root"]) == inside.resolve()
    assert readable("/etc/hostname") == readable("/etc/hostname", ())  # no roots: anything resolves
    with pytest.raises(AccessError) as err:
        readable("/etc/hostname", [tmp_path / "root"])
    assert str(err.value) == "/etc/hostname: outside the folders this server allows (FACEFAKE_ROOTS)"
    link = tmp_path / "root" / "out"
    link.symlink_to("/etc")  # a link inside a root that leads out of it is refused
    with pytest.raises(AccessError):
        readable(link / "hostname", [tmp_path / "root"])
    with pytest.raises(AccessError):
        readable(tmp_path / "root" / ".." / "elsewhere", [tmp_path / "root"])


def test_writable_folders_refuse_the_projects_own(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFAKE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEFAKE_UPLOAD_DIR", str(tmp_path / "uploads"))
    assert writable_folder(tmp_path / "hard") == (tmp_path / "hard").resolve()
    for own in (PROJECT_ROOT / "tests" / "out", tmp_path / "cache", tmp_path / "cache" / "demo" / "x",
                tmp_path / "uploads" / "v"):
        with pytest.raises(AccessError, match="facefake's own folders"):
            writable_folder(own)
    with pytest.raises(AccessError, match="FACEFAKE_ROOTS"):
        writable_folder(tmp_path / "hard", [tmp_path / "elsewhere"])


def test_public_names_and_redaction(tmp_path):
    assert public_name("/srv/sets/a/fake/x.png", ["/srv/other", "/srv/sets/a"]) == "fake/x.png"
    assert public_name("/srv/sets/a/fake/x.png") == "x.png"
    assert redact("/srv/sets/a/fake/x.png: cannot decode (truncated)") == "x.png: cannot decode (truncated)"
    assert redact("hf://A/B/c.pkl@v1: repository A/B does not exist") == "hf://A/B/c.pkl@v1: repository A/B does not exist"
    assert redact("~/models/m.pkl: no such file; see /etc now") == "m.pkl: no such file; see etc now"
    assert redact("1/2 of a/b") == "1/2 of a/b"


def test_upload_area_quota_and_expiry(tmp_path):
    area = UploadArea(tmp_path / "up", quota_bytes=1000, ttl_s=3600)
    area.reserve(1000)  # an empty area takes up to the quota
    mine = area.visitor_dir("visitor-1")
    assert mine.name == visitor_folder_name("visitor-1") and "visitor" not in mine.name
    (mine / "sets" / "d1").mkdir(parents=True)
    (mine / "sets" / "d1" / "a.bin").write_bytes(b"x" * 600)
    (mine / "models").mkdir()
    (mine / "models" / "m.pkl").write_bytes(b"y" * 100)
    assert area.used() == 700
    with pytest.raises(QuotaError) as err:
        area.reserve(301)
    assert "the upload area is full" in str(err.value) and str(tmp_path) not in str(err.value)
    area.reserve(300)
    old = os.stat(mine / "sets" / "d1").st_mtime - 7200
    os.utime(mine / "sets" / "d1", (old, old))
    assert area.sweep() == 1  # the two-hour-old set goes (and its emptied kind folder), the new model stays
    assert not (mine / "sets").exists() and (mine / "models" / "m.pkl").exists()
    area.touch(mine / "models" / "m.pkl")
    assert area.sweep(now=os.stat(mine / "models" / "m.pkl").st_mtime + 3601) == 1
    assert not mine.exists()  # the emptied visitor folder goes too
