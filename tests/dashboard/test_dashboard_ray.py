"""AppTest: the Hard set page starts a ray evaluation (a real local Ray instance) when Ray is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_image_folder
from test_dashboard import env  # noqa: F401  (fixture)

pytest.importorskip("streamlit.testing.v1")
ray = pytest.importorskip("ray")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def ray_env(env) -> Path:
    """The dashboard tests' environment (test_dashboard.env), with a local Ray instance up for the page to use."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield env
    ray.shutdown()


def test_hard_set_page_evaluates_on_the_ray_engine(ray_env):
    env = ray_env
    folder = make_image_folder(env / "set", n=2)
    at = AppTest.from_file(APP, default_timeout=240).run()
    at.switch_page("views/hard_set.py").run()
    at.text_input(key="hs_path").input(str(folder)).run()
    engine = next(r for r in at.radio if r.key == "hs_engine")
    assert list(engine.options) == ["local", "ray"]
    engine.set_value("ray").run()
    next(b for b in at.button if b.key == "hs_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    caption = next(c.value for c in at.caption if "images" in c.value and "engine" in c.value)
    assert caption.startswith("4 images · 4 run through the model") and caption.endswith("ray engine")
    from facefake_core.evaluation import Store

    assert Store(env / "store.sqlite").count_results() == 4
