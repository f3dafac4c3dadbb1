"""AppTest of the Depth of field page on a small generated hard set, evaluated through the Hard set page first."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from test_dashboard import env, ok  # noqa: F401  (env is a fixture: the model, store and cache for the app)
from conftest import make_dof_set

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGE = "views/depth_of_field.py"
TIMEOUT = 180


@pytest.fixture
def hard_set(env) -> Path:
    """The generated set, in the temporary folder that ``env`` points the app's store and cache at."""
    return make_dof_set(env / "set")


def by_key(items, key: str):
    return next(w for w in items if w.key == key)


def start() -> AppTest:
    """The app with the default model loaded (confirming trusted loading if this build's loader asks for it)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if any(b.key == "sidebar_trust" for b in at.button):
        by_key(at.button, "sidebar_trust").click().run()
    return ok(at)


def test_depth_of_field_page(hard_set):
    at = start()
    at.switch_page(PAGE).run()
    ok(at)
    assert any("No hard set has been evaluated" in i.value for i in at.info)

    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(hard_set)).run()
    by_key(at.button, "hs_run").click().run()
    ok(at)

    at.switch_page(PAGE).run()
    ok(at)
    assert at.title[0].value == "Depth of field"
    assert any("8 images with focus measures" in c.value for c in at.caption)
    slices = at.dataframe[0].value
    assert slices["slice"].tolist() == ["narrow-DOF fakes", "sharp fakes", "narrow-DOF reals", "sharp reals"]
    assert slices["n"].tolist() == [2, 2, 2, 2]

    at.slider(key="dof_threshold").set_value(0.6).run()
    at.number_input(key="dof_bins").set_value(2).run()
    by_key(at.radio, "dof_axis").set_value("dof_score").run()
    ok(at)

    # The set-level counterfactual summary: one image per slice, the default edits.
    at.number_input(key="dof_cf_cap").set_value(1).run()
    by_key(at.button, "dof_cf_run").click().run()
    ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Blurring the background of sharp fakes" in text and "Sharpening the background of narrow-DOF fakes" in text
    assert not any(b.key == "dof_cf_run" for b in at.button)
    at.run()  # kept for this set: the next run shows it again without running anything
    assert not any(b.key == "dof_cf_run" for b in at.button) and "sharp fakes" in " ".join(m.value for m in at.markdown)

    # Open one image: its detail, the counterfactual explorer and the spectra.
    path = str((hard_set / "fake" / "sharp_0.png").resolve())
    at.selectbox(key="dof_image").set_value(path).run()
    ok(at)
    assert at.query_params["image"] == path
    assert any(s.value.startswith("One image") for s in at.subheader)
    assert len(at.image) >= 3 + 5  # original, stored CAM, what the verdict saw, five blur variants
    assert any("What the verdict saw" in str(im.proto) for im in at.image)
    at.selectbox(key="dof_kind").set_value("jpeg").run()
    at.toggle(key="dof_shared").set_value(False).run()
    ok(at)
    assert len(at.image) >= 3 + 6  # six JPEG qualities

    at.number_input(key="dof_sp_cap").set_value(2).run()
    by_key(at.button, "dof_sp_run").click().run()
    ok(at)
    assert not any(b.key == "dof_sp_run" for b in ok(at.run()).button)


def test_image_deep_link_selects_the_image(hard_set, monkeypatch):
    at = start()
    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(hard_set)).run()
    by_key(at.button, "hs_run").click().run()
    target = str((hard_set / "fake" / "narrow_1.png").resolve())
    at.switch_page(PAGE)
    at.query_params["image"] = target
    at.run()
    ok(at)
    assert at.selectbox(key="dof_image").value == target
    assert any(s.value == "One image · narrow_1.png" for s in at.subheader)

    # A row's content hash (the link public mode writes) opens its image too.
    other = (hard_set / "real" / "sharp_1.png").resolve()
    at.query_params["image"] = hashlib.sha256(other.read_bytes()).hexdigest()
    at.run()
    ok(at)
    assert at.selectbox(key="dof_image").value == str(other)
    assert any(s.value == "One image · sharp_1.png" for s in at.subheader)

    # What the verdict saw comes from the stored block map: an evaluated image is not measured again.
    def measured_again(*_a, **_k):
        raise AssertionError("focus measured again")

    monkeypatch.setattr("dashboard.state.measure_focus", measured_again)
    at.selectbox(key="dof_image").set_value(str((hard_set / "real" / "narrow_0.png").resolve())).run()
    ok(at)
    assert any("What the verdict saw" in str(im.proto) for im in at.image)
