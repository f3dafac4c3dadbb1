"""AppTest of the Map page on a small generated set, evaluated through the Hard set page first: the map is drawn, a
lasso selection on it (sent as the browser would send it: the chart's widget value) opens the selected images in
the gallery, and a gallery image's Details open it on the Hard set page with its nearest neighbours (among them a
set evaluated outside the server, found in the store); two rounds' maps sit side by side."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_dashboard import demo, env, has_button, ok, tiny_demo  # noqa: F401  (env, demo, tiny_demo are fixtures)
from PIL import Image

from conftest import draw_photo, make_image_folder
from facefake_core import evaluate
from facefake_core.evaluation import Store

pytest.importorskip("streamlit.testing.v1")
from streamlit.proto.WidgetStates_pb2 import WidgetStates  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGE = "views/embedding_map.py"
TIMEOUT = 180


def by_key(items, key: str):
    return next(w for w in items if w.key == key)


def select_on_chart(at: AppTest, key: str, paths: list[str]) -> AppTest:
    """Run the app as after a lasso around ``paths`` on the plotly chart ``key``.

    AppTest has no plotly element, so the chart's widget value (the JSON the frontend sends on a selection, whose
    points carry the figure's ``customdata``) is added to the widget states of the next run by hand; Streamlit then
    calls the chart's ``on_select`` callback as it does for a browser.
    """
    chart = next(e for e in at.get("plotly_chart") if e.key == key)
    states = WidgetStates()
    states.CopyFrom(at._tree.get_widget_states())
    w = states.widgets.add()
    w.id = chart.proto.id
    points = [{"curve_number": 0, "point_number": i, "point_index": i, "x": 0.0, "y": 0.0,
               "customdata": [p, Path(p).name, "fake", "real", 0.5]} for i, p in enumerate(paths)]
    w.string_value = json.dumps({"selection": {"points": points, "point_indices": list(range(len(paths))),
                                             "box": [], "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}]}})
    return at._run(states)


def test_map_page_selection_opens_the_images(env, model):
    folder = make_image_folder(env / "set", n=3)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    ok(at)
    assert any("No hard set has been evaluated" in i.value for i in at.info)

    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(folder)).run()
    by_key(at.button, "hs_run").click().run()
    ok(at)

    at.switch_page(PAGE).run()
    ok(at)
    assert at.title[0].value == "Map"
    assert any(c.value.startswith("6 images · 512-d features · PCA") for c in at.caption)
    assert any(s.value == "Selected images" for s in at.subheader) and not at.image
    for colour in ("pred", "correct", "style", "narrow_dof", "p_fake"):
        at.selectbox(key="map_colour").set_value(colour).run()
        ok(at)

    chosen = [str(p) for p in sorted((folder / "fake").iterdir())[:2]]
    select_on_chart(at, "map_chart", chosen)
    ok(at)
    assert any(s.value == "Selected: 2 images" for s in at.subheader)
    captions = [i.proto.imgs[0].caption for i in at.image]
    assert [c.split(" · ")[0] for c in captions] == [Path(p).name for p in chosen]

    at.run()  # the gallery stays until the next selection
    assert any(s.value == "Selected: 2 images" for s in at.subheader)
    assert any(s.value == "Near-duplicates" for s in at.subheader)
    # Sets other tests in this process evaluated (the server's registry is shared) hold the same drawings, which
    # are rightly listed at 0 bits across sets; this set alone, under tiny thresholds, has none.
    at.multiselect(key="map_against").set_value([]).run()
    at.number_input(key="map_bits").set_value(0).run()  # identical hashes only
    at.number_input(key="map_dup").set_value(1e-9).run()  # under any distance between distinct drawings
    ok(at)
    assert any("No near-duplicates" in i.value for i in at.info)

    # A set evaluated outside this server (as `facefake evaluate` does) holding a byte copy of the first image: the
    # detail's neighbours find it in the store, as the set "stored", at distance 0 and 0 hash bits.
    copy = env / "cli_set" / "fake" / "copy.jpg"
    for label in ("fake", "real"):
        (env / "cli_set" / label).mkdir(parents=True)
    shutil.copy(chosen[0], copy)
    Image.fromarray(draw_photo(7777)).save(env / "cli_set" / "real" / "other.jpg")
    evaluate(model, str(env / "cli_set"), store=Store(env / "store.sqlite"), with_focus=False)

    details = [b for b in at.button if b.key and b.key.startswith("map_open_0_")]
    details[0].click().run()
    ok(at)
    assert at.title[0].value == "Hard set"
    assert any(s.value == f"Detail · {Path(chosen[0]).name}" for s in at.subheader)
    found = next(d.value for d in at.dataframe if "distance" in d.value.columns)
    assert len(found) == 5 and chosen[0] not in list(found["path"])  # five other images, never itself
    assert list(found["distance"]) == sorted(found["distance"])
    # Other tests' sets in the shared registry may hold the same drawing at distance 0 too: the copy is among the
    # nearest, tied at 0, not necessarily first.
    nearest = found[found["distance"] < 1e-6]
    assert found.iloc[0]["distance"] < 1e-6
    copy_row = nearest[nearest["path"] == str(copy)]
    assert len(copy_row) == 1, list(nearest["path"])
    first = copy_row.iloc[0]
    assert (first["set"], first["label"]) == ("stored", "fake")
    assert first["hash bits"] == 0 and first["near-duplicate"]
    assert found["hash bits"].notna().all()


def test_map_page_shows_two_rounds_side_by_side(env, demo):
    """The section at the bottom: tick the demo's two rounds, evaluate them on the set, and each gets its own map."""
    folder = make_image_folder(env / "set", n=3)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(folder)).run()
    by_key(at.button, "hs_run").click().run()
    at.switch_page(PAGE).run()
    ok(at)
    assert any(s.value == "Rounds side by side" for s in at.subheader)
    assert any("Tick a second model" in c.value for c in at.caption)
    at.multiselect(key="map_rd_models").select("demo:round0").select("demo:round1").run()
    for i in (1, 2):
        if has_button(at, f"map_rd_model_{i}_demo_ok"):  # the demo is built on request, once
            by_key(at.button, f"map_rd_model_{i}_demo_ok").click().run()
    ok(at)
    assert {"round0: not evaluated on this set yet.", "round1: not evaluated on this set yet."} <= {
        i.value for i in at.info}
    by_key(at.button, "map_rd_run").click().run()
    ok(at)
    charts = {c.key for c in at.get("plotly_chart")}
    assert {"map_chart", "map_rd_chart_learner.pkl", "map_rd_chart_round0", "map_rd_chart_round1"} <= charts
    maps = [c.value for c in at.caption if " · PCA " in c.value or c.value.endswith("PCA (from the store)")]
    assert len([m for m in maps if m.startswith("6 images")]) >= 4  # the page's own map and one per round
    at.selectbox(key="map_colour").set_value("style").run()  # the rounds' maps follow the page's colouring
    ok(at)
