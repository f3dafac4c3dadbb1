"""AppTest smoke tests: every page, its uploads and main controls, against the conftest learner.

The environment points the app at the exported learner (``FACEFAKE_MODEL``) and at a temporary store and cache
before the AppTest is created. The safe loader loads that learner; the trusted-loading confirmation is tested by
making ``_load_pickle`` refuse untrusted pickles the way the safe loader refuses a file it does not allow.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from conftest import draw_photo, make_image_folder

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT = 120


def png(seed: int, w: int = 160, h: int = 120) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(draw_photo(seed, w, h)).save(buf, format="PNG")
    return buf.getvalue()


def refuse_untrusted(monkeypatch) -> None:
    """Make every untrusted pickle load fail as the safe loader fails on a global it does not allow."""
    import facefake_core.model.loading as loading
    from facefake_core import UnsafeModelError

    real = loading._load_pickle

    def refusing(path, trust):
        if not trust:
            raise UnsafeModelError(f"{path.name}: asks for a global outside the allowlist; nothing was run")
        return real(path, trust)

    monkeypatch.setattr(loading, "_load_pickle", refusing)


@pytest.fixture
def env(learner_pkl, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FACEFAKE_MODEL", str(learner_pkl))
    monkeypatch.setenv("FACEFAKE_STORE", str(tmp_path / "store.sqlite"))
    monkeypatch.setenv("FACEFAKE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def ok(at: AppTest) -> AppTest:
    """Assert the run showed no exception and no error box, and return the AppTest."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def has_button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def radio(at: AppTest, key: str):
    return next(r for r in at.radio if r.key == key)


def start(page: str | None = None) -> AppTest:
    """The app with the default model (``FACEFAKE_MODEL``) loaded, on ``page``."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    return ok(at)


def test_home_names_the_loaded_model(env, learner_pkl):
    at = start()
    text = " ".join(m.value for m in at.markdown)
    assert str(learner_pkl) in text and "FACEFAKE_MODEL" in text
    assert "resnet50" in text and "fake, real" in text


def test_home_explains_a_demo_default_and_builds_nothing_unasked(env, monkeypatch):
    import streamlit as st

    st.cache_resource.clear()  # forget models other tests loaded (the demo rounds among them)
    monkeypatch.delenv("FACEFAKE_MODEL")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    ok(at)
    assert any("hub is unreachable" in i.value and "demo:round0" in i.value for i in at.main.info)
    assert has_button(at, "sidebar_demo_ok")  # building the demo waits for the user
    assert not (env / "cache" / "demo").exists()


def test_trusted_loading_needs_a_confirmation(env, learner_pkl, monkeypatch):
    refuse_untrusted(monkeypatch)
    copy = env / "copy.pkl"  # a source no earlier test loaded, so the shared model registry does not have it
    copy.write_bytes(learner_pkl.read_bytes())
    monkeypatch.setenv("FACEFAKE_MODEL", str(copy))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert at.sidebar.warning and "allowlist" in at.sidebar.warning[0].value
    assert any("Trusted (unsafe) loading runs any code" in m.value for m in at.sidebar.markdown)
    assert not any("Model card" in e.label for e in at.sidebar.expander)
    button(at, "sidebar_trust").click().run()
    ok(at)
    assert any("Model card" in e.label for e in at.sidebar.expander)


def test_missing_model_is_one_line(env, tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="model_kind").set_value("Local path").run()
    at.sidebar.text_input(key="model_path").input(str(tmp_path / "nope.pkl")).run()
    assert not at.exception
    assert len(at.sidebar.error) == 1 and "no such file" in at.sidebar.error[0].value


def test_inspect_upload_and_controls(env):
    at = start("views/inspect.py")
    assert at.file_uploader
    at.file_uploader(key="inspect_upload").set_value(("face.png", png(3, 200, 150), "image/png")).run()
    ok(at)
    assert len(at.image) == 3  # original, overlay, and what the depth-of-field verdict saw
    assert at.subheader[0].value.startswith("Prediction: ")
    text = " ".join(m.value for m in at.markdown)
    shown = at.image[1].proto.imgs[0].caption.split("“")[1].split("”")[0]  # the class the map shown explains
    assert "narrow depth of field" in text and f"map for “{shown}” on defocused blocks" in text
    assert at.get("download_button")
    at.selectbox(key="inspect_target").set_value("real").run()
    at.selectbox(key="inspect_layer").set_value("layer3").run()
    at.slider(key="inspect_alpha").set_value(0.8).run()
    at.selectbox(key="inspect_cmap").set_value("inferno").run()
    radio(at, "inspect_scale").set_value("shared across classes").run()
    at.selectbox(key="inspect_method").set_value("gradcam++").run()
    ok(at)
    assert "gradcam++" in at.image[1].proto.imgs[0].caption and "real" in at.image[1].proto.imgs[0].caption


def test_inspect_scores_the_maps_faithfulness(env):
    at = start("views/inspect.py")
    at.file_uploader(key="inspect_upload").set_value(("face.png", png(4, 160, 120), "image/png")).run()
    ok(at)
    assert not any(m.label == "ROAD score (logit)" for m in at.metric)  # only on request
    at.toggle(key="inspect_faith").set_value(True).run()
    ok(at)
    assert {m.label for m in at.metric} >= {"ROAD score (logit)", "random map", "Sobel edges"}
    before = len(at.image)
    at.toggle(key="inspect_sanity").set_value(True).run()
    ok(at)
    assert len(at.image) == before + 6  # the original map and five randomised ones, in a row
    at.selectbox(key="inspect_target").set_value("margin").run()  # the checks follow the map shown
    ok(at)
    assert "fake − real" in at.image[1].proto.imgs[0].caption


def test_inspect_unreadable_upload_is_one_line(env):
    at = start("views/inspect.py")
    at.file_uploader(key="inspect_upload").set_value(("broken.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["broken.png: not a recognised image format"]
    assert not at.image


def test_inspect_synthetic_portrait_deep_link(env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["image"] = "synth:fake:studio:5"
    at.run()
    at.switch_page("views/inspect.py")
    at.query_params["image"] = "synth:fake:studio:5"
    at.run()
    ok(at)
    assert radio(at, "inspect_src").value == "Synthetic demo portrait"
    assert at.number_input(key="inspect_seed").value == 5
    assert len(at.image) == 3


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """The offline demo at its "tiny" scale (seconds to build), standing in for the full one."""
    from facefake_core.demo import build_demo

    root = tmp_path_factory.mktemp("demo")
    build_demo(root, scale="tiny")
    return root


@pytest.fixture
def demo(tiny_demo, monkeypatch):
    """``ensure_demo`` (used by ``demo:roundN`` and the demo set) answers with the tiny demo."""
    import facefake_core.demo as demo_mod

    monkeypatch.setattr(demo_mod, "ensure_demo", lambda progress=None: demo_mod.build_demo(
        tiny_demo, scale="tiny", progress=progress))
    return tiny_demo


def seed_frame(at: AppTest):
    """The seed's per-class table (the page's first table whose first column is the round)."""
    return next(d.value for d in at.dataframe if list(d.value.columns)[:1] == ["Round"])


def evaluate_page(at: AppTest) -> AppTest:
    button(at, "hs_run").click().run()
    return ok(at)


def test_hard_set_folder_matrix_errors_detail_and_triage(env):
    folder = make_image_folder(env / "set", n=4)
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(folder)).run()
    ok(at)
    evaluate_page(at)
    assert at.query_params["set"] == [str(folder)] or at.query_params["set"] == str(folder)
    assert any("8 images" in c.value for c in at.caption)
    table = seed_frame(at)
    assert list(table.columns) == ["Round", "Real Accuracy", "Fake Accuracy"]
    real_before = table["Real Accuracy"][0]
    at.slider(key="hs_threshold").set_value(0.99).run()  # almost everything is called real now
    ok(at)
    assert seed_frame(at)["Real Accuracy"][0] >= real_before
    assert seed_frame(at)["Real Accuracy"][0] == 1.0
    at.slider(key="hs_threshold").set_value(0.5).run()

    button(at, "hs_cell_real_real").click().run()
    ok(at)
    assert any(s.value.startswith("True real, predicted real") for s in at.subheader)
    errors = [s.value for s in at.subheader if s.value.startswith("Errors at")]
    assert errors
    opens = [b for b in at.button if b.key and b.key.startswith(("hs_errg_open_", "hs_cellg_open_"))]
    assert opens
    opens[0].click().run()
    ok(at)
    assert any(s.value.startswith("Detail · ") for s in at.subheader)
    sha = at.query_params["error"]
    sha = sha[0] if isinstance(sha, list) else sha
    mark = next(r for r in at.radio if r.key and r.key.startswith("hs_mark_"))
    mark.set_value("model wrong").run()
    ok(at)
    from facefake_core.evaluation import Store

    marks = Store(env / "store.sqlite").marks(_only_model_sha(env))
    assert marks[sha]["mark"] == "model wrong"
    out = env / "hard_examples"
    at.text_input(key="hs_out").input(str(out)).run()
    button(at, "hs_copy").click().run()
    ok(at)
    copied = [p for p in out.rglob("*") if p.is_file()]
    assert len(copied) == 1 and copied[0].parent.name == marks[sha]["label"]
    assert at.success and "Copied 1 images" in at.success[0].value
    assert any(d.label == "Export the marks (CSV)" for d in at.get("download_button"))


def _only_model_sha(env: Path) -> str:
    import sqlite3

    with sqlite3.connect(env / "store.sqlite") as con:
        (sha,) = con.execute("SELECT DISTINCT model_sha FROM results").fetchone()
    return sha


def test_hard_set_deep_link_opens_the_error(env):
    folder = make_image_folder(env / "set", n=2)
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(folder)).run()
    evaluate_page(at)
    from facefake_core.imaging import file_sha256

    first = sorted((folder / "fake").iterdir())[0]
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)
    fresh.run()
    fresh.switch_page("views/hard_set.py")
    fresh.query_params["set"] = str(folder)
    fresh.query_params["error"] = file_sha256(first)
    fresh.run()
    ok(fresh)
    assert any(s.value == f"Detail · {first.name}" for s in fresh.subheader)
    button(fresh, "hs_to_inspect").click().run()  # the same image on Inspect, through ?image=
    ok(fresh)
    assert fresh.title[0].value == "Inspect" and fresh.text_input(key="inspect_path").value == str(first)
    assert len(fresh.image) == 3  # original, overlay, what its depth-of-field verdict saw


def test_hard_set_manifest_upload_and_demo(env, demo):
    folder = make_image_folder(env / "set", n=2)
    (folder / "list.csv").write_text("path,label,style\n" + "".join(
        f"{p.relative_to(folder).as_posix()},{p.parent.name},casual\n" for p in sorted(folder.rglob("*.jpg"))))
    at = start("views/hard_set.py")
    radio(at, "hs_kind").set_value("CSV manifest").run()
    at.text_input(key="hs_path").input(str(folder / "list.csv")).run()
    evaluate_page(at)
    assert any("4 images" in c.value for c in at.caption)

    radio(at, "hs_kind").set_value("Upload a folder").run()
    files = [(f"myset/{p.parent.name}/{p.name}", p.read_bytes(), "image/jpeg") for p in sorted(folder.rglob("*.jpg"))]
    at.file_uploader(key="hs_upload").set_value(files).run()
    ok(at)
    evaluate_page(at)
    assert any("4 images" in c.value and "4 read from the store" in c.value for c in at.caption)

    radio(at, "hs_kind").set_value("Demo set").run()
    if has_button(at, "hs_demo"):  # not when an earlier test already opened the demo in this process
        button(at, "hs_demo").click().run()
    ok(at)
    evaluate_page(at)
    assert any("8 images" in c.value for c in at.caption)


def test_compare_photos_on_one_scale(env):
    at = start("views/compare.py")
    uploads = [(f"p{i}.png", png(10 + i, 150 + 20 * i, 120), "image/png") for i in range(3)]
    at.file_uploader(key="cmp_uploads").set_value(uploads).run()
    ok(at)
    assert len(at.image) == 3
    assert any("One colour scale for all" in c.value for c in at.caption)
    frame = at.dataframe[0].value
    assert list(frame["Name"]) == ["p0.png", "p1.png", "p2.png"]
    assert set(frame.columns) >= {"Prediction", "P(fake)", "P(real)"}
    radio(at, "cmp_scale").set_value("per image").run()
    at.selectbox(key="cmp_method").set_value("hirescam").run()
    at.selectbox(key="cmp_target").set_value("fake").run()
    ok(at)
    assert not any("One colour scale for all" in c.value for c in at.caption)
    assert len(at.image) == 3


def test_compare_one_photo_under_two_models(env, demo):
    at = start("views/compare.py")
    radio(at, "cmp_mode").set_value("One photo, several models").run()
    radio(at, "cmp_photo_src").set_value("Synthetic demo portrait").run()
    at.multiselect(key="cmp_models").select("demo:round0").run()
    if has_button(at, "cmp_model_1_demo_ok"):  # the demo is built on first use, so the user agrees first
        button(at, "cmp_model_1_demo_ok").click().run()
    ok(at)
    assert len(at.image) == 2
    frame = at.dataframe[0].value
    assert list(frame["Name"]) == ["learner.pkl", "round0"]
    assert frame["P(fake)"].between(0, 1).all()


def test_batch_table_with_an_unreadable_file(env):
    at = start("views/batch.py")
    files = [("a.png", png(1), "image/png"), ("b.png", png(2, 90, 200), "image/png"),
             ("broken.jpg", b"\xff\xd8\xff truncated", "image/jpeg")]
    at.file_uploader(key="batch_uploads").set_value(files).run()
    ok(at)
    frame = at.dataframe[0].value
    assert list(frame["Name"]) == ["a.png", "b.png", "broken.jpg"]
    assert frame["Thumbnail"][0].startswith("data:image/png;base64,")
    assert frame["Error"][2].startswith("broken.jpg: ") and not isinstance(frame["Prediction"][2], str)
    assert (frame["Error"][:2] == "").all()
    assert any("3 files · 1 unreadable" in c.value for c in at.caption)
    assert any(d.label == "Download the table (CSV)" for d in at.get("download_button"))


def test_rounds_table_and_disagreements(env, demo):
    at = start("views/rounds.py")
    radio(at, "rd_kind").set_value("Demo set").run()
    if has_button(at, "rd_demo"):  # not when an earlier test already opened the demo in this process
        button(at, "rd_demo").click().run()
    at.multiselect(key="rd_models").select("demo:round0").select("demo:round1").run()
    for i in (1, 2):
        if has_button(at, f"rd_model_{i}_demo_ok"):
            button(at, f"rd_model_{i}_demo_ok").click().run()
    ok(at)
    button(at, "rd_run").click().run()
    ok(at)
    table = at.dataframe[0].value
    assert list(table["Round"]) == ["learner.pkl", "round0", "round1"]
    assert list(table.columns) == ["Round", "Real Accuracy", "Fake Accuracy", "AUC"]
    heading = next(s.value for s in at.subheader if "disagree" in s.value)
    n = int(heading.split()[0])
    assert len(at.image) == 3 * min(n, 6)
    at.slider(key="rd_threshold").set_value(0.3).run()
    ok(at)


def test_sidebar_hub_and_upload_sources(env, learner_pkl, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(env))  # uploads land under this test's folder
    at = start()
    at.sidebar.selectbox(key="model_kind").set_value("Hugging Face").run()
    at.sidebar.text_input(key="model_hf").input("not-a-repo").run()
    assert not at.exception and len(at.sidebar.error) == 1 and "OWNER/REPO/FILE" in at.sidebar.error[0].value
    at.sidebar.text_input(key="model_hf").input("someone/nothing/model.pkl@v1").run()
    assert not at.exception and len(at.sidebar.error) == 1
    assert "hf://someone/nothing/model.pkl@v1" in at.sidebar.error[0].value  # offline: one line naming the file

    at.sidebar.selectbox(key="model_kind").set_value("Upload .pkl").run()
    at.sidebar.file_uploader(key="model_upload").set_value(
        ("mine.pkl", learner_pkl.read_bytes(), "application/octet-stream")).run()
    ok(at)
    assert any("Model card" in e.label for e in at.sidebar.expander)
    text = " ".join(m.value for m in at.markdown)
    assert "uploaded mine.pkl" in text and str(env / "facefake-uploads") in text


def test_page_query_parameter_opens_that_page(env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = "batch"
    at.run()
    ok(at)
    assert at.title[0].value == "Batch"
