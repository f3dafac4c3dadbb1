"""The dashboard's plain helpers (no Streamlit): widget values to core inputs, tables."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from dashboard import inputs, tables


def test_hub_source_accepts_repo_file_and_revision():
    assert inputs.hub_source(" A/B/m.pkl@v2 ") == "hf://A/B/m.pkl@v2"
    assert inputs.hub_source("hf://A/B/dir/m.pkl") == "hf://A/B/dir/m.pkl"
    for bad in ("", "A/m.pkl", "just-a-name"):
        with pytest.raises(ValueError, match="OWNER/REPO/FILE"):
            inputs.hub_source(bad)


def test_folder_upload_keeps_relative_paths_and_refuses_escapes(tmp_path):
    files = [("picked/real/a.jpg", b"a"), ("picked/fake/sub/b.jpg", b"b"), ("picked/manifest.csv", b"m")]
    got = inputs.save_folder_upload(files, tmp_path)
    assert got.name == "picked"
    assert (got / "real" / "a.jpg").read_bytes() == b"a" and (got / "fake" / "sub" / "b.jpg").read_bytes() == b"b"
    assert inputs.save_folder_upload(list(reversed(files)), tmp_path) == got  # same content, same folder
    flat = inputs.save_folder_upload([("real/a.jpg", b"a"), ("fake/b.jpg", b"b")], tmp_path)
    assert (flat / "real" / "a.jpg").exists() and flat.parent == tmp_path
    assert inputs.safe_relpath("/abs/x.jpg").as_posix() == "abs/x.jpg"
    assert inputs.safe_relpath("a\\b.jpg").as_posix() == "a/b.jpg"
    for bad in ("../x.jpg", "a/../../x.jpg", "", "./"):
        with pytest.raises(ValueError, match="not a path inside"):
            inputs.safe_relpath(bad)
    with pytest.raises(ValueError, match="no files"):
        inputs.save_folder_upload([], tmp_path)
    assert not (tmp_path.parent / "x.jpg").exists()


def test_model_upload_is_named_by_content(tmp_path):
    p = inputs.save_model_upload("../../evil/learner.pkl", b"abc", tmp_path)
    assert p.name == "learner.pkl" and p.parent.parent == tmp_path and p.read_bytes() == b"abc"
    assert inputs.save_model_upload("learner.pkl", b"abc", tmp_path) == p
    assert inputs.save_model_upload("learner.pkl", b"abd", tmp_path) != p
    with pytest.raises(ValueError, match=r"\.pkl"):
        inputs.save_model_upload("model.bin", b"abc", tmp_path)
    with pytest.raises(ValueError, match="empty"):
        inputs.save_model_upload("m.pkl", b"", tmp_path)


def test_round_names_are_short_and_distinct():
    assert inputs.round_names(["demo:round0", "/m/a/model.pkl", "/m/b/model.pkl", "hf://O/R/x/final.pkl@v1",
                               "/m/a/model.pkl"]) == ["round0", "model.pkl", "model.pkl (2)", "final.pkl@v1",
                                                      "model.pkl (3)"]


def test_data_uri_round_trips():
    uri = inputs.data_uri(b"\x89PNG")
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == b"\x89PNG"


def test_prediction_frame_and_csv():
    results = [tables.Result("a.png", {"fake": 0.7, "real": 0.3}, thumb="data:x"),
               tables.Result("b.txt", error="b.txt: not a recognised image format")]
    frame = tables.prediction_frame(results, ("fake", "real"))
    assert list(frame.columns) == ["Thumbnail", "Name", "Prediction", "P(fake)", "P(real)", "Error"]
    assert frame["Prediction"][0] == "fake" and frame["P(real)"][0] == 0.3
    assert frame["Error"][1].startswith("b.txt") and np.isnan(frame["P(fake)"][1])
    text = tables.csv_bytes(frame).decode()
    assert text.splitlines()[0] == "Name,Prediction,P(fake),P(real),Error"
    assert "data:x" not in text
    assert "Thumbnail" not in tables.prediction_frame(results, ("fake", "real"), thumbs=False)
