"""The newcomer path of docs/dashboard.md, walked in a real browser on the full offline demo.

    .venv/bin/python benchmarks/newcomer.py [--demo-dir DIR] [--out artifacts/newcomer]

Starts the dashboard as ``make run`` does (``streamlit run dashboard/app.py``, no model named, hub unreachable,
so the default is the demo's round0), and drives headless Chromium (``/usr/bin/chromium``) through what a
newcomer does, moving between pages with the sidebar's links as a person would (one browser session):

1. Home: accept the demo (building it first when ``--demo-dir`` has none; that takes minutes), see the model card.
2. Inspect: upload a studio fake from the demo hard set, wait for its heatmap.
3. Compare: upload two photos, wait for both heatmaps.
4. Hard set: choose the demo set, evaluate it, open the cell "true fake, predicted real" from the matrix, see the
   errors' heatmaps, open one error's detail.
5. Rounds: add demo round 1, evaluate both rounds, see the seed-style table and the disagreements.
6. Depth of field: the analyses of the evaluated set.
7. Batch: upload eight photos, see the table.

After every step it checks that no error box or exception is shown and keeps a full-page screenshot in ``--out``.
Prints one line per step with its time; exit status 0 when every step passed. Not part of the test suite (the
first demo build alone takes minutes); the suite's ``tests/test_e2e.py`` drives the same server with a test model.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
CHROMIUM = "/usr/bin/chromium"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
RUNNING = '[data-testid="stStatusWidgetRunningIcon"]'
LONG_MS = 1_800_000  # a first demo build


class Walk:
    def __init__(self, page, out: Path) -> None:
        self.page, self.out, self.results = page, out, []

    def settled(self, timeout: int = 600_000) -> None:
        self.page.get_by_text(re.compile(r"^Model card · ")).first.wait_for(timeout=timeout)
        self.page.wait_for_function(f"() => !document.querySelector('{RUNNING}')", timeout=timeout)

    def images_loaded(self, n: int, timeout: int = 600_000) -> None:
        self.page.wait_for_function("n => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                                    ".filter(i => i.complete && i.naturalWidth > 0).length >= n", arg=n, timeout=timeout)

    def nav(self, name: str) -> None:
        self.page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name).click()
        self.page.get_by_role("heading", name=name, exact=True).first.wait_for()
        self.settled()

    def upload(self, files: list[Path]) -> None:
        self.page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(
            [str(f) for f in files])

    def step(self, name: str, fn) -> None:
        t = time.perf_counter()
        try:
            fn()
            boxes = self.page.locator(ERRORS)
            error = " | ".join(boxes.all_inner_texts()) if boxes.count() else ""
        except Exception as err:  # a step that fails is reported, and the walk goes on
            error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        shot = self.out / f"{len(self.results) + 1}_{name.split()[0].lower()}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        self.results.append((name, time.perf_counter() - t, error, shot))
        print(f"{'PASS' if not error else 'FAIL'}  {name:<44} {time.perf_counter() - t:7.1f} s  {error}", flush=True)


def walk(page, url: str, hardset: Path, out: Path) -> Walk:
    w = Walk(page, out)
    fakes = lambda style: sorted((hardset / "fake").glob(f"{style}_*"))  # noqa: E731  (there after Home)

    def home():
        page.goto(url)
        page.get_by_role("heading", name="facefake", exact=True).first.wait_for(timeout=120_000)
        load = page.get_by_role("button", name=re.compile(r"^Load demo:round0"))
        try:
            load.wait_for(timeout=15_000)
            load.click()
        except Exception:
            pass  # the demo was already built: no question asked
        w.settled(LONG_MS)

    def inspect():
        w.nav("Inspect")
        w.upload(fakes("studio")[:1])
        page.get_by_text("the box is what the model saw").first.wait_for(timeout=600_000)
        w.settled()
        w.images_loaded(2)

    def compare():
        w.nav("Compare")
        w.upload([fakes("studio")[0], fakes("casual")[0]])
        w.settled()
        w.images_loaded(2)

    def hard_set():
        w.nav("Hard set")
        page.get_by_text("Demo set", exact=True).first.click()
        w.settled()
        build = page.get_by_role("button", name=re.compile(r"^Build the demo set"))
        if build.count():
            build.click()
            w.settled(LONG_MS)
        page.get_by_role("button", name=re.compile(r"^Evaluate")).first.click()
        page.get_by_text("Confusion matrix").wait_for(timeout=LONG_MS)
        w.settled()
        page.get_by_role("button", name=re.compile(r"^true fake → real")).click()
        page.get_by_role("heading", name=re.compile(r"^True fake, predicted real")).wait_for()
        w.settled()
        w.images_loaded(1)
        page.get_by_role("button", name="Details").first.click()
        page.get_by_role("heading", name=re.compile(r"^Detail · ")).wait_for()
        w.settled()
        w.images_loaded(2)

    def rounds():
        w.nav("Rounds")
        page.get_by_text("Demo set", exact=True).first.click()
        w.settled()
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option", name="demo:round1").click()
        page.keyboard.press("Escape")
        w.settled()
        page.get_by_role("button", name=re.compile(r"^Evaluate the rounds")).click()
        page.get_by_text(re.compile(r"images on which the rounds disagree")).wait_for(timeout=LONG_MS)
        w.settled()
        w.images_loaded(2)

    def depth_of_field():
        w.nav("Depth of field")
        page.get_by_role("heading", name="P(fake) against sharpness").wait_for()
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        w.settled()

    def batch():
        w.nav("Batch")
        w.upload(fakes("studio")[:4] + sorted((hardset / "real").glob("*"))[::50][:4])
        page.get_by_text(re.compile(r"^8 files")).first.wait_for(timeout=600_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        w.settled()

    for name, fn in (("Home: default model (demo round0)", home), ("Inspect: upload a studio fake", inspect),
                     ("Compare: two photos", compare), ("Hard set: demo set, matrix cell, detail", hard_set),
                     ("Rounds: round0 and round1", rounds), ("Depth of field", depth_of_field),
                     ("Batch: eight photos", batch)):
        w.step(name, fn)
    return w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", type=Path, default=None,
                    help="an already built demo to use (default: build a fresh one, which takes minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "newcomer", help="screenshots go here")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from conftest import serve_dashboard
    from facefake_core.demo import build_demo

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        demo_dir = args.demo_dir or cache / "demo"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEFAKE_")}
        env.update(FACEFAKE_CACHE=str(cache), FACEFAKE_DEMO_DIR=str(demo_dir))
        try:
            with serve_dashboard(env, args.out / "streamlit.log") as url, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.set_default_timeout(120_000)
                hardset = build_demo(demo_dir).hardset if args.demo_dir else demo_dir / "hardset"
                w = walk(page, url, hardset, args.out)
                browser.close()
        except RuntimeError as err:  # the server did not start (its log's tail is in the message)
            raise SystemExit(str(err)) from None
    failed = [r for r in w.results if r[2]]
    print(f"{len(w.results) - len(failed)} of {len(w.results)} steps passed; screenshots in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
