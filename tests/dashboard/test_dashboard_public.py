"""Public mode (``FACEFAKE_PUBLIC=1``) in AppTest, on every page: no widget takes a path, a deep link to a server
path shows nothing of the file, the copy box is a zip download, two sessions' triage marks stay apart, heavy jobs
wait in the queue; and local mode's ``FACEFAKE_ROOTS``."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from conftest import draw_photo, make_image_folder
from test_dashboard import _only_model_sha, button, env, has_button, ok, radio, refuse_untrusted, start  # noqa: F401

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = ["views/home.py", "views/inspect.py", "views/compare.py", "views/hard_set.py", "views/rounds.py",
         "views/batch.py", "views/depth_of_field.py", "views/embedding_map.py"]
PATH_CHOICES = {"Local path", "Hugging Face", "Image path on the server", "Folder path", "CSV manifest"}
EDIT_VALUES = re.compile(r"^\w+_rob_\w+$")  # the robustness edits' values ("4,8,16"): numbers, not paths
WAIT_S = 300


@pytest.fixture
def public(env, monkeypatch) -> Path:
    """Public mode with one listed set (``small``: 4 fakes, 4 reals) and uploads under the test's folder."""
    folder = make_image_folder(env / "listed", n=4)
    monkeypatch.setenv("FACEFAKE_PUBLIC", "1")
    monkeypatch.setenv("FACEFAKE_SETS", f"small={folder}")
    monkeypatch.setenv("FACEFAKE_UPLOAD_DIR", str(env / "uploads"))
    for name in ("FACEFAKE_MODEL_UPLOADS", "FACEFAKE_QUEUE_SLOTS", "FACEFAKE_ROOTS", "FACEFAKE_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    return folder


def texts(at: AppTest) -> str:
    """Everything the page wrote, as one string."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader",
                                  "text") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def path_widgets(at: AppTest) -> list[str]:
    """Widgets that could take a path: text boxes other than the edits' values, path choices in selects/radios."""
    found = [f"text box {w.key}" for w in [*at.text_input, *at.text_area] if not EDIT_VALUES.match(w.key or "")]
    for w in [*at.selectbox, *at.radio]:
        found += [f"{w.key}: {o}" for o in w.options if o in PATH_CHOICES]
    return found


def evaluate_listed(at: AppTest, key: str = "hs") -> AppTest:
    radio(at, f"{key}_kind").set_value("A set on this server").run()
    if key == "hs":
        button(at, "hs_run").click().run()
    return ok(at)


def test_no_widget_takes_a_path_on_any_page(public):
    at = start()
    assert not has_button(at, "sidebar_trust") and not at.sidebar.file_uploader
    for page in PAGES:
        at.switch_page(page).run()
        ok(at)
        assert not path_widgets(at), (page, path_widgets(at))
    at.switch_page("views/hard_set.py").run()
    evaluate_listed(at)
    assert any("8 images" in c.value for c in at.caption)
    button(at, "hs_cell_fake_fake").click().run()
    opens = [b for b in at.button if b.key and b.key.startswith(("hs_errg_open_", "hs_cellg_open_"))]
    opens[0].click().run()
    ok(at)
    assert not path_widgets(at), path_widgets(at)
    assert str(public) not in texts(at)  # the detail names the file within its set
    at.switch_page("views/depth_of_field.py").run()
    ok(at)
    assert not path_widgets(at) and str(public) not in texts(at)
    at.switch_page("views/embedding_map.py").run()
    ok(at)
    assert not path_widgets(at) and str(public) not in texts(at)
    assert not [m for m in at.multiselect if m.key == "map_against"]  # other visitors' sets are not offered
    assert all(not {"path_a", "path_b", "set_a", "set_b"} & set(d.value.columns) for d in at.dataframe)
    at.switch_page("views/compare.py").run()
    radio(at, "cmp_mode").set_value("One photo, several models").run()
    ok(at)
    assert not path_widgets(at)
    at.switch_page("views/rounds.py").run()
    evaluate_listed(at, "rd")
    assert not path_widgets(at)


@pytest.mark.parametrize("page", ["views/inspect.py", "views/depth_of_field.py"])
def test_a_deep_link_to_a_real_png_shows_nothing_of_it_and_says_why(public, page):
    real = public / "fake" / "fake_0.jpg"  # a real image on the server, inside even a listed set
    secret = public.parent / "secret.png"
    Image.fromarray(draw_photo(5, 64, 48)).save(secret)
    at = start("views/hard_set.py")
    evaluate_listed(at)
    for target in (secret, real):
        at.switch_page(page)
        at.query_params["image"] = str(target)
        at.run()
        ok(at)
        assert any("not followed" in w.value for w in at.warning), [w.value for w in at.warning]
        assert not any(s.value.startswith("One image") for s in at.subheader)
        if page == "views/inspect.py":
            assert not at.image
        assert str(target) not in texts(at) and target.name not in texts(at)


def test_a_set_link_to_a_server_folder_opens_nothing_and_a_name_opens_the_listed_set(public):
    at = start("views/hard_set.py")
    at.query_params["set"] = str(public)
    at.run()
    ok(at)
    assert any("not followed" in w.value for w in at.warning)
    assert not any("images ·" in c.value for c in at.caption) and str(public) not in texts(at)
    at.query_params["set"] = "small"
    at.run()
    ok(at)
    assert any("8 images" in c.value for c in at.caption)  # a linked set is evaluated at once, as locally
    assert at.query_params["set"] in ("small", ["small"])


def test_an_image_hash_link_opens_the_stored_image(public):
    from facefake_core.imaging import file_sha256

    at = start("views/hard_set.py")
    evaluate_listed(at)
    first = sorted((public / "fake").iterdir())[0]
    at.switch_page("views/inspect.py")
    at.query_params["image"] = file_sha256(first)
    at.run()
    ok(at)
    assert radio(at, "inspect_src").value == "Image from the hard set"
    assert len(at.image) == 3  # original, overlay, what its depth-of-field verdict saw


def test_the_copy_box_is_a_zip_and_two_sessions_marks_stay_apart(public):
    from facefake_core.evaluation import Store
    from facefake_core.imaging import file_sha256

    first = sorted((public / "fake").iterdir())[0]
    sha = file_sha256(first)

    def open_detail() -> AppTest:
        at = start("views/hard_set.py")
        evaluate_listed(at)
        at.query_params["error"] = sha
        return ok(at.run())

    a = open_detail()
    assert not any(w.key == "hs_out" for w in a.text_input) and not has_button(a, "hs_copy")
    zips = [d for d in a.get("download_button") if "zip" in d.proto.label]
    assert zips and zips[0].proto.disabled  # nothing marked yet
    mark = next(r for r in a.radio if r.key and r.key.startswith("hs_mark_"))
    mark.set_value("model wrong").run()
    ok(a)
    assert any("1 model wrong" in c.value for c in a.caption)
    assert not next(d for d in a.get("download_button") if "zip" in d.proto.label).proto.disabled

    b = open_detail()  # another visitor: same shared results, none of A's marks
    assert any("Your marks in this visit: none yet" in c.value for c in b.caption)
    assert next(r for r in b.radio if r.key and r.key.startswith("hs_mark_")).value == "no mark"
    next(r for r in b.radio if r.key and r.key.startswith("hs_mark_")).set_value("unsure").run()
    ok(b)
    a.run()
    assert any("1 model wrong" in c.value for c in a.caption) and not any("unsure" in c.value for c in a.caption)

    store, model_sha = Store(public.parent / "store.sqlite"), _only_model_sha(public.parent)
    assert [m["mark"] for m in store.marks(model_sha, owner=a.session_state["visitor"]).values()] == ["model wrong"]
    assert store.marks(model_sha) == {}  # local mode's shared marks are untouched


def _hold_and_watch(queue, held: int, then):
    """Hold ``held`` slots, and in a thread wait until one more job waits; then call ``then(queue)``."""
    tickets = [queue.join("test") for _ in range(held)]
    seen: dict = {}

    def watch() -> None:
        seen["saw_waiting"] = queue.wait_until(lambda s: s.waiting == 1, WAIT_S)
        seen["state"] = queue.state()
        then(queue, tickets, seen)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return tickets, seen, thread


def test_a_third_evaluation_waits_while_two_run_under_a_limit_of_two(public, monkeypatch):
    from dashboard import state
    from facefake_core.evaluation import Store

    monkeypatch.setenv("FACEFAKE_QUEUE_SLOTS", "2")
    queue = state.work_queue(2)
    store = Store(public.parent / "store.sqlite")

    def release_one(q, tickets, seen) -> None:
        seen["rows_while_waiting"] = store.count_results()
        tickets[0].release()

    tickets, seen, thread = _hold_and_watch(queue, 2, release_one)
    try:
        at = start("views/hard_set.py")
        radio(at, "hs_kind").set_value("A set on this server").run()
        button(at, "hs_run").click().run()
        ok(at)
        thread.join(WAIT_S)
        assert seen["saw_waiting"] and (seen["state"].running, seen["state"].waiting) == (2, 1)
        assert seen["rows_while_waiting"] == 0  # nothing ran while it waited
        assert any("8 images" in c.value for c in at.caption)
        assert any(re.match(r"The evaluation waited [\d.]+ s in line", c.value) for c in at.caption)
        assert queue.state().running == 1  # the test's remaining job; the page's own slot was freed
    finally:
        for t in tickets:
            t.release()


def test_a_waiting_evaluation_that_is_cancelled_says_so_in_one_line(public, monkeypatch):
    from dashboard import state

    monkeypatch.setenv("FACEFAKE_QUEUE_SLOTS", "1")
    queue = state.work_queue(1)
    tickets, seen, thread = _hold_and_watch(queue, 1, lambda q, held, seen: q.tickets()[-1].cancel())
    try:
        at = start("views/hard_set.py")
        radio(at, "hs_kind").set_value("A set on this server").run()
        button(at, "hs_run").click().run()
        thread.join(WAIT_S)
        assert not at.exception and [e.value for e in at.error] == ["the job was cancelled"]
        assert not any("8 images" in c.value for c in at.caption)
        assert queue.state().waiting == 0
    finally:
        for t in tickets:
            t.release()


def test_public_models_are_listed_ones_and_refused_files_get_no_trusted_button(public, learner_pkl, monkeypatch):
    monkeypatch.setenv("FACEFAKE_MODELS", f"seed={learner_pkl}")
    at = start()
    options = at.sidebar.selectbox(key="model_kind").options
    assert options == ["Default", "Demo round 0", "Demo round 1", "seed (this server)"]
    at.sidebar.selectbox(key="model_kind").set_value("seed (this server)").run()
    ok(at)
    assert str(learner_pkl) not in texts(at) and "`seed`" in texts(at)

    refuse_untrusted(monkeypatch)
    monkeypatch.setenv("FACEFAKE_MODEL_UPLOADS", "1")
    at = start()
    at.sidebar.selectbox(key="model_kind").set_value("Upload .pkl").run()
    at.sidebar.file_uploader(key="model_upload").set_value(
        ("mine.pkl", learner_pkl.read_bytes(), "application/octet-stream")).run()
    assert not at.exception and at.sidebar.warning and "allowlist" in at.sidebar.warning[0].value
    assert not has_button(at, "sidebar_trust")
    assert not any("Trusted (unsafe)" in m.value for m in at.sidebar.markdown)
    assert str(public.parent / "uploads") not in texts(at)


def test_a_full_upload_area_refuses_a_set_in_one_line(public, monkeypatch):
    monkeypatch.setenv("FACEFAKE_UPLOAD_QUOTA_MB", "0.001")  # about 1 KB: less than one photo
    at = start("views/hard_set.py")
    files = [(f"myset/{p.parent.name}/{p.name}", p.read_bytes(), "image/jpeg") for p in sorted(public.rglob("*.jpg"))]
    at.file_uploader(key="hs_upload").set_value(files).run()
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("the upload area is full") and str(public.parent) not in at.error[0].value


def test_local_roots_refuse_a_path_outside_them_in_one_line(env, monkeypatch):
    allowed = make_image_folder(env / "allowed" / "set", n=2)
    outside = make_image_folder(env / "outside", n=1)
    monkeypatch.setenv("FACEFAKE_ROOTS", str(env / "allowed"))
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(outside)).run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"{outside}: outside the folders this server allows (FACEFAKE_ROOTS)"]
    at.switch_page("views/inspect.py").run()
    radio(at, "inspect_src").set_value("Image path on the server").run()
    at.text_input(key="inspect_path").input(str(outside / "fake" / "fake_0.jpg")).run()
    assert len(at.error) == 1 and "FACEFAKE_ROOTS" in at.error[0].value and not at.image

    from facefake_core.imaging import file_sha256

    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(allowed)).run()
    button(at, "hs_run").click().run()
    at.query_params["error"] = file_sha256(sorted((allowed / "fake").iterdir())[0])
    ok(at.run())
    next(r for r in at.radio if r.key and r.key.startswith("hs_mark_")).set_value("model wrong").run()
    monkeypatch.setenv("FACEFAKE_ROOTS", f"{env / 'allowed'}:{env / 'cache'}")
    for target, words in ((env / "elsewhere", "FACEFAKE_ROOTS"), (env / "cache" / "hard", "facefake's own folders")):
        at.text_input(key="hs_out").input(str(target)).run()
        button(at, "hs_copy").click().run()
        assert not at.exception and len(at.error) == 1 and words in at.error[0].value, [e.value for e in at.error]
        assert not target.exists()
    at.text_input(key="hs_out").input(str(env / "allowed" / "hard")).run()
    button(at, "hs_copy").click().run()
    ok(at)
    assert at.success and "Copied 1 images" in at.success[0].value
