"""The set-level evidence in a real browser: the Hard set page's slice table, diagnosis and calibration, the
robustness curves of round0 and round1 overlaid on the Rounds page, and what one image's depth-of-field verdict saw,
on the offline demo. Each step must end with
no error box; the pictures go to ``docs/img/`` (the README and docs/evidence.md show them).

    .venv/bin/python benchmarks/evidence_shots.py --demo-dir DIR [--out docs/img]

A real ``streamlit run`` server (tests/conftest.py ``serve_dashboard``) driven by Debian's chromium through
playwright, as benchmarks/newcomer.py does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from newcomer import CHROMIUM, LONG_MS, Walk  # noqa: E402

#: A studio fake of the demo hard set with a narrow depth of field and a face the cascade finds.
FOCUS_IMAGE = "studio_00006.png"


def _between(page, top: str, bottom: str | None, path: Path) -> None:
    """A screenshot of the page from the heading ``top`` down to the heading ``bottom`` (or 900 px)."""
    a = page.get_by_role("heading", name=re.compile(top)).first.bounding_box()
    b = page.get_by_role("heading", name=re.compile(bottom)).first.bounding_box() if bottom else None
    y1 = b["y"] - 8 if b else a["y"] + 900
    page.screenshot(path=str(path), clip={"x": 0, "y": max(a["y"] - 8, 0), "width": 1400, "height": y1 - a["y"]})


def shots(page, url: str, out: Path, only: list[str] | None = None) -> Walk:
    w = Walk(page, out)

    def hard_set():
        page.goto(url)
        page.get_by_role("heading", name="facefake", exact=True).first.wait_for(timeout=120_000)
        w.settled(LONG_MS)
        w.nav("Hard set")
        page.get_by_text("Demo set", exact=True).first.click()
        w.settled()
        page.get_by_role("button", name=re.compile(r"^Evaluate")).first.click()
        page.get_by_role("heading", name="Slices").wait_for(timeout=LONG_MS)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        w.settled()
        _between(page, r"^Slices$", r"^Confusion matrix$", out / "slices.png")
        _between(page, r"^Calibration and the threshold$", r"^Errors at", out / "calibration.png")

    def robustness_rounds():
        w.nav("Rounds")
        page.get_by_text("Demo set", exact=True).first.click()
        w.settled()
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option", name="demo:round1").click()
        page.keyboard.press("Escape")
        w.settled()
        page.get_by_role("button", name=re.compile(r"^Evaluate the rounds")).click()
        page.get_by_role("heading", name="Robustness, rounds overlaid").wait_for(timeout=LONG_MS)
        w.settled()
        page.get_by_role("button", name=re.compile(r"^Run the robustness curves")).click()
        page.get_by_text("Show", exact=True).first.wait_for(timeout=LONG_MS)
        w.settled(LONG_MS)
        page.locator('[data-testid="stPlotlyChart"]').last.wait_for()
        _between(page, r"^Robustness, rounds overlaid$", r"images on which the rounds disagree", out / "robustness.png")

    def focus_verdict():
        w.nav("Depth of field")  # the session's last set: the demo hard set
        page.get_by_role("combobox", name=re.compile(r"^Image")).first.click(timeout=60_000)
        page.keyboard.type(FOCUS_IMAGE)
        page.keyboard.press("Enter")
        head = page.get_by_role("heading", name=f"One image · {FOCUS_IMAGE}")
        head.wait_for(timeout=LONG_MS)
        w.settled()
        box = head.bounding_box()
        page.screenshot(path=str(out / "focus_verdict.png"),
                        clip={"x": box["x"] - 16, "y": box["y"] - 8, "width": 1400 - box["x"], "height": 420})

    steps = {"hard_set": ("Hard set: slices, diagnosis, calibration", hard_set),
             "rounds": ("Rounds: robustness curves overlaid", robustness_rounds),
             "focus": ("Depth of field: what one image's verdict saw", focus_verdict)}
    for key in ["hard_set"] + [k for k in steps if k != "hard_set" and (not only or k in only)]:
        w.step(*steps[key])
    return w


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo-dir", type=Path, required=True, help="a built demo (facefake demo build --out DIR)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the pictures go")
    ap.add_argument("--store", type=Path, default=None,
                    help="a results store to reuse (e.g. the one `facefake robustness` filled), so the pages find the "
                         "curves already computed")
    ap.add_argument("--only", action="append", choices=["rounds", "focus"],
                    help="only this step after the Hard set's (which the others need); repeatable")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from conftest import serve_dashboard

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEFAKE_")}
        env.update(FACEFAKE_CACHE=str(Path(tmp) / "cache"), FACEFAKE_DEMO_DIR=str(args.demo_dir), HF_HUB_OFFLINE="1")
        if args.store:
            env["FACEFAKE_STORE"] = str(args.store)
        with serve_dashboard(env, Path(tmp) / "streamlit.log") as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 5200})
            page.set_default_timeout(300_000)
            w = shots(page, url, Path(tmp), args.only)
            browser.close()
        for name in ("slices.png", "calibration.png", "robustness.png", "focus_verdict.png"):
            if (Path(tmp) / name).exists():
                (args.out / name).write_bytes((Path(tmp) / name).read_bytes())
    failed = [r for r in w.results if r[2]]
    print(f"{len(w.results) - len(failed)} of {len(w.results)} steps passed; pictures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
