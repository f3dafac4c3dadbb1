"""The whole app in a browser: the real Streamlit server, driven by headless Chromium through Playwright.

Visits every page (no error box, no exception), uploads a photo on Inspect, waits for its heatmap, opens a hard set
by deep link and clicks a square of its confusion matrix, draws a lasso around a point of that set's embedding map to
open it in the gallery, predicts a batch with an unreadable file, and keeps screenshots in ``artifacts/``. Uses Debian's ``/usr/bin/chromium``; skipped when it is not installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from conftest import draw_photo, make_image_folder, serve_dashboard

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts"
PAGES = {"": "facefake", "inspect": "Inspect", "compare": "Compare", "hard_set": "Hard set", "rounds": "Rounds",
         "batch": "Batch", "depth_of_field": "Depth of field", "map": "Map"}
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
START_S, PAGE_MS, MODEL_MS = 120, 60_000, 180_000


@pytest.fixture
def server(learner_pkl, tmp_path):
    """A real ``streamlit run dashboard/app.py`` on a free port, terminated afterwards whatever happens."""
    env = {**os.environ, "FACEFAKE_MODEL": str(learner_pkl), "FACEFAKE_STORE": str(tmp_path / "store.sqlite"),
           "FACEFAKE_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    try:
        with serve_dashboard(env, tmp_path / "streamlit.log", START_S) as url:
            yield url
    except RuntimeError as err:  # the server did not start (pytest does not throw the test's errors in here)
        pytest.fail(str(err))


def _settled(page) -> None:
    """Wait until the script run is over: the sidebar shows the model card and nothing is running."""
    page.get_by_text("Model card · resnet50").wait_for(timeout=MODEL_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')",
                           timeout=PAGE_MS)


def _click_matrix_square(page, tries: int = 3) -> None:
    """Click the first square of the confusion matrix until its cell opens. Plotly lays the chart out again once
    the container's width is known, so under load a click can land where a square was a moment ago; each try
    measures the square afresh, and clicks again only once the app is idle without the cell open."""
    heading = page.get_by_role("heading", name=re.compile(r"^True \w+, predicted \w+"))
    for _ in range(tries):
        box = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .point').first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(1500)  # the click reaches the server and starts a run
        _settled(page)
        if heading.count():
            heading.first.wait_for()
            return
    raise AssertionError(f"{tries} clicks on a square of the confusion matrix did not open its cell")


def _lasso_map_point(page, tries: int = 3) -> None:
    """Draw a small lasso around the first point of the embedding map (its drag mode is the lasso) until the
    gallery opens it (same retry rule as the matrix)."""
    heading = page.get_by_role("heading", name=re.compile(r"^Selected: \d+ image"))
    for _ in range(tries):
        point = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .point').first
        point.scroll_into_view_if_needed()  # the mouse acts only inside the viewport
        page.wait_for_timeout(500)
        box = point.bounding_box()
        x, y, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 18
        page.mouse.move(x - r, y - r)
        page.mouse.down()
        for dx, dy in ((r, -r), (r, r), (-r, r), (-r, -r)):
            page.mouse.move(x + dx, y + dy, steps=4)
        page.mouse.up()
        page.wait_for_timeout(1500)  # the selection reaches the server and starts a run
        _settled(page)
        if heading.count():
            heading.first.wait_for()
            return
    page.screenshot(path=str(ARTIFACTS / "e2e_map_failed.png"), full_page=True)
    raise AssertionError(f"{tries} lassos around a point of the map did not open it in the gallery")


def _no_errors(page, where: str) -> None:
    boxes = page.locator(ERRORS)
    assert boxes.count() == 0, f"{where}: " + " | ".join(boxes.all_inner_texts())


@contextmanager
def _browser_page(sync_api) -> Iterator:
    """A page of headless Chromium, closed afterwards whatever happens."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(PAGE_MS)
            yield page
        finally:
            browser.close()


def _open_cell(page, url: str) -> None:
    """Open a hard set by its deep link (evaluated at once) and click a square of its confusion matrix."""
    page.goto(url)
    page.get_by_text("Confusion matrix").wait_for(timeout=MODEL_MS)
    _settled(page)
    _click_matrix_square(page)
    _settled(page)


def _every_page(page, server: str, label: str, check=None) -> None:
    """Open each page: its title, the run settled, no error box, and ``check(page, path)`` if given."""
    for path, title in PAGES.items():
        page.goto(f"{server}/{path}")
        page.get_by_role("heading", name=title, exact=True).first.wait_for()
        _settled(page)
        _no_errors(page, f"{label}{path or 'home'}")
        if check:
            check(page, path)


def test_every_page_and_an_inspect_upload(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    photo = tmp_path / "face.png"
    Image.fromarray(draw_photo(11, 320, 240)).save(photo)
    hard_set = make_image_folder(tmp_path / "set", n=2)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a JPEG")
    ARTIFACTS.mkdir(exist_ok=True)
    with _browser_page(sync_api) as page:
        _every_page(page, server, "")

        page.goto(f"{server}/inspect")
        _settled(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
        caption = page.get_by_text("the box is what the model saw")
        caption.wait_for(timeout=MODEL_MS)
        page.get_by_text("Prediction: ").first.wait_for()
        _settled(page)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                               ".filter(i => i.complete && i.naturalWidth > 0).length >= 2")
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()  # the P(class) bars
        _no_errors(page, "inspect after upload")
        page.screenshot(path=str(ARTIFACTS / "e2e_inspect.png"), full_page=True)

        # A deep link evaluates the set; clicking a square of the matrix opens that cell's images.
        _open_cell(page, f"{server}/hard_set?set={quote(str(hard_set))}")
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                               ".filter(i => i.complete && i.naturalWidth > 0).length >= 1")
        _no_errors(page, "hard set after a click on the matrix")
        page.screenshot(path=str(ARTIFACTS / "e2e_hard_set.png"), full_page=True)

        # The same set's embedding map: clicking a point opens it, with its heatmap, in the gallery.
        page.goto(f"{server}/map?set={quote(str(hard_set))}")
        page.get_by_text("Colour by").wait_for(timeout=MODEL_MS)
        _settled(page)
        _lasso_map_point(page)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                               ".filter(i => i.complete && i.naturalWidth > 0).length >= 1")
        _no_errors(page, "map after a click on a point")
        page.screenshot(path=str(ARTIFACTS / "e2e_map.png"), full_page=True)

        # A batch with an unreadable file: a table row says why, the rest are predicted.
        page.goto(f"{server}/batch")
        _settled(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(photo), str(broken)])
        page.get_by_text("2 files · 1 unreadable").wait_for(timeout=MODEL_MS)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        _settled(page)
        _no_errors(page, "batch")
        page.screenshot(path=str(ARTIFACTS / "e2e_batch.png"), full_page=True)
    assert (ARTIFACTS / "e2e_inspect.png").stat().st_size > 10_000


@pytest.fixture
def public_server(learner_pkl, tmp_path):
    """The same server in public mode (``FACEFAKE_PUBLIC=1``), with one listed set, ``small``."""
    hard_set = make_image_folder(tmp_path / "listed", n=2)
    env = {**os.environ, "FACEFAKE_MODEL": str(learner_pkl), "FACEFAKE_STORE": str(tmp_path / "store.sqlite"),
           "FACEFAKE_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "FACEFAKE_PUBLIC": "1",
           "FACEFAKE_SETS": f"small={hard_set}", "FACEFAKE_UPLOAD_DIR": str(tmp_path / "uploads")}
    try:
        with serve_dashboard(env, tmp_path / "streamlit.log", START_S) as url:
            yield url, hard_set
    except RuntimeError as err:
        pytest.fail(str(err))


def test_public_mode_in_a_browser(public_server, tmp_path):
    """Every page without a path box; an Inspect upload; a listed set by name with a click on its matrix; a deep
    link to a real file on the server that opens nothing and says why."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    server, hard_set = public_server
    photo = tmp_path / "face.png"
    Image.fromarray(draw_photo(12, 320, 240)).save(photo)
    ARTIFACTS.mkdir(exist_ok=True)

    def no_path_box(page, path: str) -> None:
        assert page.locator('[data-testid="stTextInput"], [data-testid="stTextArea"]').count() == 0, path
        assert page.get_by_text("Image path on the server").count() == 0

    with _browser_page(sync_api) as page:
        _every_page(page, server, "public ", no_path_box)

        page.goto(f"{server}/inspect")
        _settled(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
        page.get_by_text("the box is what the model saw").wait_for(timeout=MODEL_MS)
        _settled(page)
        _no_errors(page, "public inspect after upload")

        secret = hard_set / "fake" / "fake_0.jpg"
        page.goto(f"{server}/inspect?image={quote(str(secret))}")
        _settled(page)
        page.get_by_text("are not followed here").wait_for()
        assert page.locator('[data-testid="stImage"]').count() == 0
        assert str(hard_set) not in page.content()
        page.screenshot(path=str(ARTIFACTS / "e2e_public_link.png"), full_page=True)

        _open_cell(page, f"{server}/hard_set?set=small")
        _no_errors(page, "public hard set after a click on the matrix")
        assert page.get_by_text("Download the “model wrong” images").count() == 1
        assert str(hard_set) not in page.content()
        page.screenshot(path=str(ARTIFACTS / "e2e_public_hard_set.png"), full_page=True)
