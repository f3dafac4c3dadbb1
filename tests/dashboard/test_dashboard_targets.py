"""AppTest of the class the stored heatmaps explain: the Hard set gallery (fake by default, a toggle) and the Rounds
page (both rounds under one class), each map drawn from the store's grid of that class and labelled with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import make_image_folder
from test_dashboard import button, demo, env, has_button, ok, radio, start, tiny_demo  # noqa: F401  (fixtures)


@pytest.fixture
def drawn(monkeypatch):
    """The CAM grids the pages draw, in order (the overlay cache is cleared so each is drawn here)."""
    import streamlit as st

    import dashboard.state as state

    st.cache_data.clear()
    grids = []
    real = state.cam_overlay

    def recording(pixels, cam, *a, **k):
        grids.append(np.asarray(cam))
        return real(pixels, cam, *a, **k)

    monkeypatch.setattr(state, "cam_overlay", recording)
    return grids


def _gallery_captions(at) -> list[str]:
    return [c for im in at.image for c in im.captions if "loss " in c]


def _stored(env, paths):
    """The store's own every-class grids of these files, by file name (read without the page)."""
    from facefake_core.evaluation import Store
    from facefake_core.imaging import file_sha256

    store = Store(env / "store.sqlite")
    (model_sha,) = {k for k in _model_shas(env)}
    got = store.get_results(model_sha, [file_sha256(p) for p in paths])
    return {p.name: got[file_sha256(p)] for p in paths}


def _model_shas(env):
    import sqlite3

    with sqlite3.connect(env / "store.sqlite") as con:
        return [r[0] for r in con.execute("SELECT DISTINCT model_sha FROM results")]


def test_error_gallery_shows_the_fake_class_map_by_default_and_toggles(env, drawn):
    folder = make_image_folder(env / "set", n=3)
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(folder)).run()
    button(at, "hs_run").click().run()
    at.slider(key="hs_threshold").set_value(0.999).run()  # every image is called real: the fakes are the errors
    ok(at)
    assert radio(at, "hs_map_class").value == "fake"
    fakes = sorted((folder / "fake").iterdir())
    stored = _stored(env, fakes)
    for choice in ("fake", "real", "predicted class"):
        if choice != "fake":
            drawn.clear()
            radio(at, "hs_map_class").set_value(choice).run()
            ok(at)
        captions = _gallery_captions(at)
        assert len(captions) == len(fakes) == len(drawn)
        by_name = dict(zip([c.split(" · ")[0] for c in captions], drawn))
        for name, s in stored.items():
            cls = max(s.probs, key=s.probs.get) if choice == "predicted class" else choice
            label = f"map: {cls} (predicted)" if choice == "predicted class" else f"map: {cls}"
            assert any(c.startswith(name) and label in c for c in captions), (label, captions)
            np.testing.assert_array_equal(by_name[name], s.class_cams[list(s.probs).index(cls)])


def test_a_row_without_the_chosen_class_map_is_said_to_lack_it(env, drawn):
    import dashboard.state as state

    folder = make_image_folder(env / "set", n=2)
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(folder)).run()
    button(at, "hs_run").click().run()
    at.slider(key="hs_threshold").set_value(0.999).run()
    ok(at)
    # The rows as a store from before every class's map holds them: only the predicted class's map.
    (key, ev), = [(k, v) for k, v in state._evaluations().items() if k[1] == str(folder)]
    state._evaluations().put(key, dataclasses.replace(ev, rows=tuple(dataclasses.replace(r, class_cams={})
                                                                     for r in ev.rows)))
    drawn.clear()
    radio(at, "hs_map_class").set_value("real").run()
    ok(at)
    fakes = [r for r in ev.rows if r.label == "fake"]
    lacking = [r for r in fakes if r.pred != "real"]
    said = [w.value for w in at.warning if "no stored map of class 'real'" in w.value]
    assert len(said) == len(lacking) and len(_gallery_captions(at)) == len(fakes) - len(lacking)
    assert all("map: real" in c for c in _gallery_captions(at))
    for grid, row in zip(drawn, [r for r in fakes if r.pred == "real"]):
        np.testing.assert_array_equal(grid, row.cam)  # the stored predicted-class map, which is the real one


def test_rounds_compare_both_rounds_under_one_class(env, demo, drawn):
    import streamlit as st

    st.cache_resource.clear()  # another module's demo rounds (at another path) may still be cached
    at = start("views/rounds.py")
    radio(at, "rd_kind").set_value("Demo set").run()
    if has_button(at, "rd_demo"):
        button(at, "rd_demo").click().run()
    at.multiselect(key="rd_models").select("demo:round0").run()
    if has_button(at, "rd_model_1_demo_ok"):
        button(at, "rd_model_1_demo_ok").click().run()
    button(at, "rd_run").click().run()
    ok(at)
    heading = next(s.value for s in at.subheader if "disagree" in s.value)
    if heading.startswith("0 "):
        pytest.skip("the two rounds agree on every demo image")
    import dashboard.state as state

    evs = [v for k, v in state._evaluations().items() if str(k[1]).startswith(str(demo))]  # the rounds on the demo set
    assert len(evs) >= 2
    for choice in ("fake", "real"):
        drawn.clear()
        if choice != "fake":
            radio(at, "rd_map_class").set_value(choice).run()
            ok(at)
        assert radio(at, "rd_map_class").value == choice
        captions = [c for im in at.image for c in im.captions]
        assert captions and all(c.endswith(f"map: {choice}") for c in captions)
        # Each drawn grid is its round's stored grid of the chosen class, whatever that round predicted.
        rows = {(r.image_sha, id(ev)): r for ev in evs for r in ev.rows}
        expected = [r.class_cams[choice] for r in rows.values()]
        for grid in drawn:
            assert any(np.array_equal(grid, e) for e in expected)


def test_hard_set_scores_the_cam_methods_on_the_errors(env, learner_pkl):
    from facefake_core.analysis import faithfulness
    from facefake_core.imaging import load_photo

    import dashboard.state as state

    folder = make_image_folder(env / "set", n=2)
    at = start("views/hard_set.py")
    at.text_input(key="hs_path").input(str(folder)).run()
    button(at, "hs_run").click().run()
    at.slider(key="hs_threshold").set_value(0.999).run()  # the two fakes are the errors
    at.number_input(key="hs_mf_n").set_value(2).run()
    at.multiselect(key="hs_mf_methods").set_value(["gradcam", "eigencam"]).run()
    ok(at)
    is_table = lambda d: "beats_random" in d.value.columns  # noqa: E731
    assert not any(is_table(d) for d in at.dataframe)  # nothing is computed before the button
    button(at, "hs_mf_run").click().run()
    ok(at)
    table = next(d.value for d in at.dataframe if is_table(d))
    assert list(table["method"])[-2:] == ["random", "sobel"] and set(table["method"]) >= {"gradcam", "eigencam"}
    assert any("Most faithful for this model here" in m.value and "maps of fake" in m.value for m in at.markdown)
    model = state.loaded_model(str(learner_pkl), False)  # the page's model (FACEFAKE_MODEL)
    direct = [faithfulness(model, load_photo(str(p)), "fake", "gradcam")["faithfulness"]["road_combined"]
              for p in sorted((folder / "fake").iterdir())]
    mean = float(table.set_index("method").loc["gradcam", "mean"])
    assert mean == pytest.approx(sum(direct) / 2, abs=1e-4)
    at.run()  # the next run shows the same table without the button
    ok(at)
    assert any(is_table(d) for d in at.dataframe)
