"""Model sources: local paths, the hub through a cache the test fills in (HF_HUB_OFFLINE=1), the default."""

import shutil

import pytest
from huggingface_hub import constants

from facefake_core import ModelLoadError, load_model
from facefake_core.sources import default_source, parse_hub


def _fill_cache(cache, repo, filename, src, commit="a" * 40):
    """Lay out ``$HF_HUB_CACHE/models--OWNER--REPO`` the way huggingface_hub does."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snap = folder / "snapshots" / commit
    snap.mkdir(parents=True)
    shutil.copy(src, snap / filename)
    return snap / filename


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


def test_parse_hub():
    assert parse_hub("hf://BA-Baracus/face-fake-or-not-v1/round2_final.pkl").repo == "BA-Baracus/face-fake-or-not-v1"
    ref = parse_hub("hf://o/r/sub/dir/m.pkl@v2")
    assert (ref.repo, ref.filename, ref.revision) == ("o/r", "sub/dir/m.pkl", "v2")
    assert parse_hub("/tmp/m.pkl") is None


def test_hub_model_loads_from_a_filled_cache_offline(hub_cache, learner_pkl, model):
    cached = _fill_cache(hub_cache, "owner/repo", "round2_final.pkl", learner_pkl)
    m = load_model("hf://owner/repo/round2_final.pkl", device="cpu")
    assert m.info.path == str(cached)
    assert m.info.sha256 == model.info.sha256
    assert m.info.source == "hf://owner/repo/round2_final.pkl"


def test_offline_cache_miss_is_one_line_naming_the_repo(hub_cache):
    with pytest.raises(ModelLoadError) as err:
        load_model("hf://nobody/missing-repo/model.pkl")
    msg = str(err.value)
    assert "nobody/missing-repo" in msg and "\n" not in msg


def test_default_is_env_then_cached_hub_then_demo(hub_cache, learner_pkl, monkeypatch):
    monkeypatch.setenv("FACEFAKE_MODEL", "/some/model.pkl")
    assert default_source()[0] == "/some/model.pkl"
    monkeypatch.delenv("FACEFAKE_MODEL")
    assert default_source()[0] == "demo:round0"  # offline and not cached
    _fill_cache(hub_cache, "BA-Baracus/face-fake-or-not-v1", "round2_final.pkl", learner_pkl)
    assert default_source()[0] == "hf://BA-Baracus/face-fake-or-not-v1/round2_final.pkl"


def test_missing_local_file_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model(str(tmp_path / "nope.pkl"))
