"""The Hard set page on a 100,000-row set (issue 16): page open, threshold slider, store size per row, peak RSS.

    .venv/bin/python benchmarks/page_100k.py                   # 100,000 rows, table
    .venv/bin/python benchmarks/page_100k.py --rows 20000 --json
    .venv/bin/python benchmarks/page_100k.py --profile page    # cProfile of the page's own calls (top 25)

How the store is filled: the demo's hard set (``/tmp/mydemo/hardset``, or ``--seed-set``) is evaluated once by the
real evaluator with the demo's round0 learner (``--model``), into ``WORK/seed.sqlite``. Its rows are then replayed
``--rows`` times over under new image hashes: each replica is a hard link to the seed's file (so the page can read
it, its header and its pixels) at a new path, listed in a manifest CSV with the seed's label and style, and the
store gets a copy of the seed row's results (probabilities, CAM grids of every class, focus measures), feature
vector, focus block map, file hash and header facts under the new hash. So every table holds what an evaluation of
100,000 such images would hold. The probabilities are moved by less than 1e-6 per replica, so that the scores are
distinct, as real ones would be (the curves then have 100,000 points, not 400).

Figures:
  store_bytes_per_row   the SQLite file's size (after a checkpoint) over the row count
  reuse_s / reuse_rss_gb  ``evaluate()`` of the set that the store already holds, in a fresh process, with no
                        columnar copy of the evaluation (the full path: manifest, file hashes, the stored rows
                        as columns; it writes the copy), and its peak RSS (target: under 3 GB)
  reuse_copy_s / reuse_copy_rss_gb  the same again in another fresh process: the copy read back (a ``stat``
                        per file)
  page_open_s           server-side script time of the Hard set page opening the set by deep link in a fresh
                        session of this process's server (evaluate() included, from the copy), the first open
                        ever on the page (the header columns of the slice table read and cached)  target <= 2 s
  page_reopen_s         the same in a new session of the same server (the evaluation held in memory)
  slider_s              one threshold-slider move (a rerun of the page)
  page_rss_gb           peak RSS of the process that ran the page (the server side)
  restart_open_s        the first open in a fresh process after all that: a restarted server, the store on
                        disk (the copy and the cached header columns read back)               target <= 2 s
  restart_rss_gb        that process's peak RSS
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import hashlib
import json
import os
import pstats
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
warnings.filterwarnings("ignore")

DEMO_SET = Path("/tmp/mydemo/hardset/manifest.csv")
DEMO_MODEL = Path("/tmp/mydemo/round0.pkl")
TARGET_S = 2.0


def peak_rss_gb() -> float:
    """This process's peak RSS in GB: ``VmHWM``, which a new program starts afresh (Linux keeps ``ru_maxrss`` across
    ``exec``, so a child started by a big parent would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def seed_store(work: Path, model_path: Path, seed_set: Path) -> Path:
    """The seed set evaluated once by the real evaluator (kept in ``work`` for later runs)."""
    from facefake_core import evaluate, load_model
    from facefake_core.evaluation import Store

    from facefake_core.analysis import file_infos

    db = work / "seed.sqlite"
    if not db.exists():  # the header facts too, as `facefake evaluate` stores them
        file_infos(evaluate(load_model(str(model_path), device="cpu"), seed_set, store=Store(db)), Store(db))
    return db


def _distinct(probs: str, i: int, n: int) -> str:
    """The seed row's probabilities (JSON) moved by less than 1e-6 so that every replica has its own score, as
    100,000 real images would (the ROC and PR curves and the best-threshold search then have 100,000 points)."""
    p = json.loads(probs)
    fake = min(max(p["fake"] + (i / n - 0.5) * 1e-6, 0.0), 1.0)
    return json.dumps({"fake": fake, "real": 1.0 - fake})


def replay(seed_db: Path, seed_set: Path, model_sha: str, work: Path, n: int) -> tuple[Path, Path]:
    """A set of ``n`` hard links to the seed's files and a store holding their rows under new hashes.

    Returns:
        ``(manifest, store path)``.
    """
    from facefake_core.evaluation import Store, discover

    items = discover(seed_set, ("fake", "real")).items
    src = sqlite3.connect(seed_db)
    sha_of = dict(src.execute("SELECT path, sha FROM file_hashes"))
    results = {r[0]: r[1:] for r in src.execute(
        "SELECT image_sha, probs, cam, cam_layer, focus FROM results WHERE model_sha=?", (model_sha,))}
    feats = {r[0]: r[1:] for r in src.execute("SELECT image_sha, dim, vec FROM features WHERE model_sha=?",
                                               (model_sha,))}
    focus = {r[0]: r[1:] for r in src.execute("SELECT image_sha, version, measures, block_map FROM focus")}
    cams = dict(src.execute("SELECT image_sha, cams FROM class_cams WHERE model_sha=?", (model_sha,)))
    infos = dict(src.execute("SELECT image_sha, info FROM file_info"))
    src.close()
    seeds = [it for it in items if sha_of.get(it.path) in results]
    folder, db = work / f"set_{n}", work / f"store_{n}.sqlite"
    manifest = folder / "manifest.csv"
    if manifest.exists() and db.exists():
        return manifest, db
    Store(db)  # the schema
    con = sqlite3.connect(db)
    now = time.time()
    lines = []
    with con:
        for i in range(n):
            it = seeds[i % len(seeds)]
            old = sha_of[it.path]
            rel = Path(it.label) / f"{i:06d}{Path(it.path).suffix}"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            if not (folder / rel).exists():
                os.link(it.path, folder / rel)
            st = os.stat(folder / rel)
            new = hashlib.sha256(f"replay:{i}:{old}".encode()).hexdigest()
            probs, *rest = results[old]
            con.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)",
                        (model_sha, new, _distinct(probs, i, n), *rest, now))
            if old in feats:
                con.execute("INSERT OR REPLACE INTO features VALUES (?,?,?,?)", (model_sha, new, *feats[old]))
            if old in cams:  # every class's CAM grid (schema 3)
                con.execute("INSERT OR REPLACE INTO class_cams VALUES (?,?,?)", (model_sha, new, cams[old]))
            if old in focus:
                con.execute("INSERT OR REPLACE INTO focus VALUES (?,?,?,?)", (new, *focus[old]))
            if old in infos:
                con.execute("INSERT OR REPLACE INTO file_info VALUES (?,?)", (new, infos[old]))
            con.execute("INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?)",
                        (str(folder / rel), st.st_size, st.st_mtime_ns, new))
            lines.append({"path": rel.as_posix(), "label": it.label, "style": it.style})
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label", "style"])
        w.writeheader()
        w.writerows(lines)
    return manifest, db


def table_bytes(db: Path, n: int) -> dict:
    """Bytes per row of each table, its primary-key index included (SQLite's ``dbstat``)."""
    con = sqlite3.connect(db)
    sizes: dict[str, int] = {}
    for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        table = name.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0] if name.startswith("sqlite_auto") else name
        sizes[table] = sizes.get(table, 0) + size
    con.close()
    return {f"bytes_per_row_{t}": v / n for t, v in sizes.items() if v > 16384}


def forget_copies(db: Path) -> None:
    """Drop the columnar copies of evaluations and the cached header columns: the store as `evaluate()` last
    filled it row by row (what the replay writes, or a store from before schema 4)."""
    from facefake_core.evaluation import Store

    Store(db)  # migrated to the current schema
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM evaluation_columns")
        con.execute("DELETE FROM derived_columns")
    con.close()


def reuse_in_child(model_path: Path, manifest: Path, db: Path, prefix: str = "reuse") -> dict:
    """``evaluate()`` of the stored set in a fresh process: seconds and peak RSS (:func:`peak_rss_gb`)."""
    code = ("import sys, time; sys.path[:0] = [%r, %r]\nfrom page_100k import peak_rss_gb\n"
            "from facefake_core import evaluate, load_model\nfrom facefake_core.evaluation import Store\n"
            "m = load_model(%r, device='cpu')\nbase = peak_rss_gb()\n"
            "t = time.perf_counter(); ev = evaluate(m, %r, store=Store(%r))\n"
            "print(len(ev.rows), ev.computed, time.perf_counter() - t, base, peak_rss_gb())"
            % (str(ROOT), str(ROOT / "benchmarks"), str(model_path), str(manifest), str(db)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    rows, computed, secs, base, peak = int(out[-5]), int(out[-4]), float(out[-3]), float(out[-2]), float(out[-1])
    assert computed == 0, f"{computed} images ran the model: the store did not hold the set"
    return {f"{prefix}_rows": rows, f"{prefix}_s": secs, f"{prefix}_rss_gb": peak, "model_loaded_rss_gb": base}


def restart_open_in_child(manifest: Path, n: int) -> dict:
    """The page's first open of the set in a fresh process (a restarted server; the store on disk): server time of
    the deep link's run, after a first run that loads the model, and the process's peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--child-open", str(manifest), "--rows", str(n)],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child_open(manifest: Path, n: int) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600).run()  # loads the model
    at.switch_page("views/hard_set.py")
    at.query_params["set"] = str(manifest)
    t = time.perf_counter()
    at.run()
    took = time.perf_counter() - t
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert [c.value for c in at.caption if f"{n} images" in c.value], "the page did not open the set"
    print(json.dumps({"restart_open_s": took,
                      "restart_rss_gb": peak_rss_gb()}))


def page_times(manifest: Path, n: int, repeat: int) -> dict:
    """Server time of the Hard set page: first open by deep link, a new session's open, slider moves."""
    from streamlit.testing.v1 import AppTest

    app = str(ROOT / "dashboard" / "app.py")

    def session() -> AppTest:
        at = AppTest.from_file(app, default_timeout=600).run()  # loads the model (shared across sessions)
        at.switch_page("views/hard_set.py")
        at.query_params["set"] = str(manifest)
        return at

    def timed(at: AppTest) -> float:
        t = time.perf_counter()
        at.run()
        took = time.perf_counter() - t
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        assert [c.value for c in at.caption if f"{n} images" in c.value], "the page did not open the set"
        return took

    first = timed(session())
    reopen = [timed(session()) for _ in range(repeat)]
    at = session()
    timed(at)
    slider = []
    for i in range(repeat):
        at.slider(key="hs_threshold").set_value(0.3 + 0.1 * i)
        slider.append(timed(at))
    return {"page_open_s": first, "page_reopen_s": statistics.median(reopen), "slider_s": statistics.median(slider),
            "page_rss_gb": peak_rss_gb()}


def profile_page(manifest: Path, model_path: Path, db: Path, top: int) -> None:
    """cProfile of what the page computes, called directly: evaluate() reuse, slices, metrics, curves, galleries."""
    from facefake_core import analysis, evaluate, load_model
    from facefake_core.evaluation import Store, curves, errors_by_loss

    model, store = load_model(str(model_path), device="cpu"), Store(db)
    prof = cProfile.Profile()
    prof.enable()
    ev = evaluate(model, manifest, store=store)
    cols = analysis.slice_columns(ev, headers=analysis.header_columns(ev, store))
    analysis.slice_report(ev, 0.5, columns=[next(iter(cols))], ci=False, cols=cols)
    m = ev.metrics(0.5)
    curves(ev.labels(), ev.p_pos(), ev.vocab)
    ev.calibration(), ev.best_threshold(0.5)
    analysis.slice_metrics(ev.labels(), ev.p_pos(), ev.vocab, 0.5, ci=False)
    list(errors_by_loss(ev, 0.5)[:8])
    prof.disable()
    print(m.n, "rows")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed page re-opens and slider moves (medians)")
    ap.add_argument("--work", type=Path, default=None, help="keep the seed store and the replicas here")
    ap.add_argument("--model", type=Path, default=DEMO_MODEL)
    ap.add_argument("--seed-set", type=Path, default=DEMO_SET)
    ap.add_argument("--profile", choices=["page"], default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child-open", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_open:
        _child_open(args.child_open, args.rows)
        return 0
    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = args.work or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(FACEFAKE_CACHE=str(work / "cache"), HF_HUB_OFFLINE="1")
    from facefake_core import load_model

    model_sha = load_model(str(args.model), device="cpu").info.sha256
    t = time.perf_counter()
    manifest, db = replay(seed_store(work, args.model, args.seed_set), args.seed_set, model_sha, work, args.rows)
    figures: dict = {"rows": args.rows, "fill_s": time.perf_counter() - t,
                     "store_bytes_per_row": db.stat().st_size / args.rows, **table_bytes(db, args.rows)}
    if args.profile:
        profile_page(manifest, args.model, db, 25)
        return 0
    forget_copies(db)  # the full path first: it writes the columnar copy that the later opens read
    figures.update(reuse_in_child(args.model, manifest, db))
    figures.update(reuse_in_child(args.model, manifest, db, "reuse_copy"))
    os.environ.update(FACEFAKE_MODEL=str(args.model), FACEFAKE_STORE=str(db))
    figures.update(page_times(manifest, args.rows, args.repeat))
    figures.update(restart_open_in_child(manifest, args.rows))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for k, v in figures.items():
            mark = (" met" if v <= TARGET_S else " MISSED") + f" (<= {TARGET_S} s)" \
                if k in ("page_open_s", "restart_open_s") else ""
            print(f"{k:>22}  {v:>12.3f}{mark}" if isinstance(v, float) else f"{k:>22}  {v:>12}")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
