"""``facefake embed`` and ``facefake neighbours`` answer in their documented JSON shapes; errors are one line."""

import json

import numpy as np
from sklearn.metrics.pairwise import cosine_distances

from conftest import make_image_folder
from facefake_core.cli import main
from facefake_core.evaluation import Store


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_embed_and_neighbours_contracts(capsys, learner_pkl, tmp_path):
    folder, db = make_image_folder(tmp_path / "set", n=3), tmp_path / "s.sqlite"
    other = make_image_folder(tmp_path / "other", n=1, size=(140, 100))
    code, out, _ = run(capsys, "embed", str(folder), "--model", str(learner_pkl), "--store", str(db), "--json")
    data = json.loads(out)
    assert code == 0
    assert {"model", "n", "dim", "method", "points", "near_duplicates"} <= set(data)
    assert data["n"] == 6 and data["dim"] == 512 and data["method"] == "pca" and data["model"] == str(learner_pkl)
    assert all(set(p) == {"path", "x", "y", "label", "pred"} for p in data["points"])
    assert all({"a", "b", "distance"} <= set(p) for p in data["near_duplicates"])
    again = json.loads(run(capsys, "embed", str(folder), "--model", str(learner_pkl), "--store", str(db), "--json")[1])
    assert again["cached"] and again["points"] == data["points"]

    query = str(folder / "fake" / "fake_1.jpg")
    code, out, _ = run(capsys, "neighbours", query, "--set", str(folder), "--set", str(other), "--model",
                       str(learner_pkl), "--store", str(db), "-k", "4", "--json")
    found = json.loads(out)
    assert code == 0 and len(found) == 4
    assert all(set(n) == {"path", "set", "distance", "label", "pred"} for n in found)
    assert query not in [n["path"] for n in found]
    # By hand: cosine distances from the stored vectors, over both sets, the query's own row left out.
    store = Store(db)
    from facefake_core import load_model
    from facefake_core.imaging import file_sha256

    sha = load_model(str(learner_pkl), device="cpu").info.sha256
    paths = [str(p) for root in (folder, other) for p in sorted(root.rglob("*.jpg")) if str(p) != query]
    vecs = store.get_features(sha, [file_sha256(p) for p in [query, *paths]])
    pool = np.stack([vecs[file_sha256(p)] for p in paths]).astype(np.float32)
    d = cosine_distances(vecs[file_sha256(query)].astype(np.float32)[None], pool)[0]
    order = np.argsort(d, kind="stable")[:4]
    assert [n["path"] for n in found] == [paths[i] for i in order]
    np.testing.assert_allclose([n["distance"] for n in found], d[order], atol=1e-5)
    assert {n["set"] for n in found} <= {str(folder), str(other)}


def test_embed_errors_are_one_line(capsys, learner_pkl, tmp_path):
    code, _, err = run(capsys, "embed", str(tmp_path / "nope"), "--model", str(learner_pkl), "--json")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    folder = make_image_folder(tmp_path / "tiny", n=1)
    code, _, err = run(capsys, "embed", str(folder), "--model", str(learner_pkl), "--store", str(tmp_path / "s.db"),
                       "--method", "umap", "--json")
    assert code == 2 and "UMAP needs at least 5 images" in err and err.count("\n") == 1
