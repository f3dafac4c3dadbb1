"""The SQLite store: model results and feature vectors under (model sha256, image sha256), focus measures under the
image's sha256 (they do not depend on the model), 2-D projections of sets' features, and triage marks under
(owner, model sha256, image sha256).

Triage marks belong to an owner: ``""`` in local mode (everyone on the machine), a visitor's or signed-in user's
key in public mode. Stores from before owners existed are migrated when opened: their marks become ``""``'s.

One file, WAL mode, ``synchronous=NORMAL`` (commits wait for no disk sync and survive a killed process; a power cut
may lose the latest). Each call opens a short-lived connection (safe across threads and processes); each batch is
one transaction, so a killed run leaves whole batches behind, and a re-run skips every image already stored.

Schema versions (``PRAGMA user_version``): 1 had ``results``, ``focus``, ``file_hashes`` and ``triage``; 2 adds
``features``, ``projections``, ``file_info`` and ``edit_results``, and ``triage`` gains its ``owner`` column
(migrated in place, see above). 3 adds ``class_cams``, the CAM grid of every class beside each result (whose
``cam`` stays the predicted class's); a table of its own, so code that only knows schema 2 still reads and writes
``results``. Opening an older store only creates the new, empty tables (nothing stored is rewritten or lost); the
next evaluation fills in the features and every-class CAMs of rows stored without them. 4 adds the
columnar copies of evaluations (:mod:`.snapshot`) and the per-model ``generations`` that triggers on ``results``,
``class_cams`` and ``features`` count up (any writer's change, this code's or an older one's, makes a copy stale).
The tables themselves are in :mod:`.schema`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..config import CONFIG
from .blobs import from_npy as _from_npy, to_npy as _npy
from .schema import SCHEMA as _SCHEMA, SCHEMA_VERSION, TRIGGERS, TRIAGE_V2 as _TRIAGE_V2

MARKS = ("label wrong", "model wrong", "unsure")


@dataclass(frozen=True)
class StoredResult:
    """One stored row. ``cam`` explains the predicted class; ``class_cams`` (``(n_classes, h, w)``, classes in the
    order of ``probs``' keys) every class, or is ``None`` for a row stored before schema 3 or without CAMs."""

    probs: dict[str, float]
    cam: np.ndarray | None
    cam_layer: str | None
    focus: dict | None
    class_cams: np.ndarray | None = None


def _select_in(con: sqlite3.Connection, sql: str, params: Sequence, keys: Sequence[str]) -> Iterator[tuple]:
    """Rows of ``sql`` (whose ``IN ({})`` takes the keys) for every key, asked 500 at a time (SQLite's variable
    limit); ``params`` come before the keys."""
    keys = list(dict.fromkeys(keys))
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        yield from con.execute(sql.format(",".join("?" * len(chunk))), [*params, *chunk])


class Store:
    """Results and triage marks in one SQLite file.

    Args:
        path: the database file; ``None`` uses ``CONFIG.store_path``. Its folder is created.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else CONFIG.store_path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching to WAL takes an exclusive lock that busy_timeout does not wait for: two sessions opening
        # the store at the same moment must retry rather than fail with "database is locked".
        for attempt in range(100):
            try:
                with self._connect() as con:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.executescript(_SCHEMA + TRIGGERS)
                    con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._migrate_triage()
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _migrate_triage(self) -> None:
        """Give a pre-owner triage table its ``owner`` column, in one exclusive transaction (two processes opening
        an old store at once: the second finds it migrated)."""
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout=60000")
            if "owner" in {r[1] for r in con.execute("PRAGMA table_info(triage)")}:
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                if "owner" not in {r[1] for r in con.execute("PRAGMA table_info(triage)")}:
                    for statement in filter(str.strip, _TRIAGE_V2.split(";")):
                        con.execute(statement)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60)
        try:
            con.execute("PRAGMA busy_timeout=60000")
            con.execute("PRAGMA synchronous=NORMAL")
            with con:  # one transaction: committed on success, rolled back on error
                yield con
        finally:
            con.close()

    # -- results ------------------------------------------------------------------------------------------
    def get_results(self, model_sha: str, image_shas: Sequence[str]) -> dict[str, StoredResult]:
        """Stored results of one model for the given images (absent ones are simply missing)."""
        out: dict[str, StoredResult] = {}
        q = ("SELECT r.image_sha, r.probs, r.cam, r.cam_layer, r.focus, c.cams FROM results r LEFT JOIN class_cams c "
             "ON c.model_sha = r.model_sha AND c.image_sha = r.image_sha WHERE r.model_sha=? AND r.image_sha IN ({})")
        with self._connect() as con:
            for sha, probs, cam, layer, focus, cams in _select_in(con, q, [model_sha], image_shas):
                out[sha] = StoredResult(json.loads(probs), _from_npy(cam), layer, json.loads(focus) if focus else None,
                                        _from_npy(cams))
        return out

    def result_columns(self, model_sha: str, image_shas: Sequence[str]) -> dict[str, list]:
        """Stored results of one model for the given images as columns, without their CAM grids or focus dicts
        (what a page aggregates over 100,000 rows; full records come from :meth:`get_results`).

        Returns:
            ``{"image_sha", "probs" (the dicts), "focus_version" and "narrow_dof" (from the focus dict, ``None``
            without one), "class_cams" and "features" (whether stored)}``, one entry per stored row, and
            ``"generation"``: the model's generation these rows are at (see :mod:`.schema`).
        """
        q = ("SELECT r.image_sha, r.probs, json_extract(r.focus, '$.focus_version'), json_extract(r.focus, "
             "'$.narrow_dof'), c.image_sha IS NOT NULL, f.image_sha IS NOT NULL FROM results r "
             "LEFT JOIN class_cams c ON c.model_sha = r.model_sha AND c.image_sha = r.image_sha "
             "LEFT JOIN features f ON f.model_sha = r.model_sha AND f.image_sha = r.image_sha "
             "WHERE r.model_sha=? AND r.image_sha IN ({})")
        with self._connect() as con:
            con.execute("BEGIN")  # one read transaction: the generation is the one these rows are at
            generation = self._generation(con, model_sha)
            got = list(_select_in(con, q, [model_sha], image_shas))
        shas, probs, version, narrow, cams, feats = (list(c) for c in zip(*got)) if got else ([],) * 6
        # One parse of all the probabilities (json's C parser, the very floats json.loads gives row by row).
        return {"image_sha": shas, "probs": json.loads("[" + ",".join(probs) + "]"), "focus_version": version,
                "narrow_dof": narrow, "class_cams": [bool(c) for c in cams], "features": [bool(f) for f in feats],
                "generation": generation}

    @staticmethod
    def _generation(con: sqlite3.Connection, model_sha: str) -> str:
        """The model's generation and SQLite's schema version (a dropped or recreated table changes it)."""
        row = con.execute("SELECT n FROM generations WHERE model_sha=?", (model_sha,)).fetchone()
        return f"{0 if row is None else row[0]}/{con.execute('PRAGMA schema_version').fetchone()[0]}"

    # -- columnar copies of evaluations (snapshot.py), valid at the model's generation they were written at -------
    def get_columns_copy(self, model_sha: str, source: str) -> bytes | None:
        """The copy of ``source``'s columns under the model, if one is stored at the model's current generation."""
        with self._connect() as con:
            con.execute("BEGIN")
            row = con.execute("SELECT stamp, data FROM evaluation_columns WHERE model_sha=? AND source=?",
                              (model_sha, source)).fetchone()
            current = self._generation(con, model_sha)
        return row[1] if row is not None and row[0] == current else None

    def put_columns_copy(self, model_sha: str, source: str, generation: str, data: bytes) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO evaluation_columns VALUES (?,?,?,?,?)",
                        (model_sha, source, generation, data, time.time()))

    def put_results(self, model_sha: str, rows: Iterable[tuple], features: Iterable[tuple[str, np.ndarray]] = ()) -> int:
        """Write ``(image_sha, probs, cam, cam_layer, focus[, class_cams])`` rows, and the ``(image_sha, vector)``
        features of the same pass (see :meth:`put_features`), in one transaction; returns how many rows.
        ``class_cams`` is ``(n_classes, h, w)`` in the order of ``probs``' keys; without it the row has none."""
        now = time.time()
        rows = list(rows)
        data = [(model_sha, sha, json.dumps(probs), _npy(cam), layer, json.dumps(focus) if focus else None, now)
                for sha, probs, cam, layer, focus, *_ in rows]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", data)
            # A row written again without every class's CAM must not keep another pass's.
            con.executemany("DELETE FROM class_cams WHERE model_sha=? AND image_sha=?",
                            [(model_sha, r[0]) for r in rows if len(r) < 6 or r[5] is None])
            self._put_class_cams(con, model_sha, [(r[0], r[5]) for r in rows if len(r) > 5 and r[5] is not None])
            self._put_features(con, model_sha, features)
        return len(data)

    def put_result_focus(self, model_sha: str, rows: Iterable[tuple[str, dict]]) -> None:
        """Replace the focus dict of stored result rows, ``(image_sha, focus)``, leaving the rest of each row as it
        is (a focus pass after the model's: ``evaluate(with_focus=False)`` first, or a newer focus rule)."""
        data = [(json.dumps(focus), model_sha, sha) for sha, focus in rows]
        with self._connect() as con:
            con.executemany("UPDATE results SET focus=? WHERE model_sha=? AND image_sha=?", data)

    def put_class_cams(self, model_sha: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        """Write ``(image_sha, class_cams)`` for rows already stored (ones from before schema 3) in one transaction;
        the rows themselves are not touched."""
        with self._connect() as con:
            self._put_class_cams(con, model_sha, rows)

    @staticmethod
    def _put_class_cams(con: sqlite3.Connection, model_sha: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        con.executemany("INSERT OR REPLACE INTO class_cams VALUES (?,?,?)",
                        [(model_sha, sha, _npy(cams)) for sha, cams in rows])

    # -- feature vectors (the input of the head's final Linear, from the pass that gave the probabilities) -------
    def get_features(self, model_sha: str, image_shas: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored float16 ``(D,)`` feature vectors of one model for the given images (absent ones are missing)."""
        q = "SELECT image_sha, dim, vec FROM features WHERE model_sha=? AND image_sha IN ({})"
        with self._connect() as con:
            return {sha: np.frombuffer(vec, "<f2", count=dim) for sha, dim, vec in _select_in(con, q, [model_sha],
                                                                                                image_shas)}

    def put_features(self, model_sha: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        """Write ``(image_sha, vector)`` rows (any float dtype, stored as float16) in one transaction."""
        with self._connect() as con:
            self._put_features(con, model_sha, rows)

    @staticmethod
    def _put_features(con: sqlite3.Connection, model_sha: str, rows: Iterable[tuple[str, np.ndarray]]) -> None:
        data = [(model_sha, sha, int(np.size(v)), np.asarray(v, "<f2").ravel().tobytes()) for sha, v in rows]
        con.executemany("INSERT OR REPLACE INTO features VALUES (?,?,?,?)", data)

    def feature_files(self, model_sha: str) -> list[tuple[str, str]]:  # (path, sha) of every file evaluated with it
        q = "SELECT h.path, h.sha FROM file_hashes h JOIN features f ON f.image_sha=h.sha AND f.model_sha=? ORDER BY 1"
        with self._connect() as con:
            return [(p, sha) for p, sha in con.execute(q, (model_sha,))]

    # -- projections (2-D maps of a set's features, cached per model, method, parameters and images) -------------
    def get_projection(self, model_sha: str, key: str) -> np.ndarray | None:
        """A stored float32 ``(n, 2)`` projection, or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT coords FROM projections WHERE model_sha=? AND key=?", (model_sha, key)).fetchone()
        return None if row is None else _from_npy(row[0])

    def put_projection(self, model_sha: str, key: str, coords: np.ndarray) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO projections VALUES (?,?,?,?)",
                        (model_sha, key, _npy(coords), time.time()))

    def count_results(self, model_sha: str | None = None) -> int:
        with self._connect() as con:
            if model_sha is None:
                return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            return con.execute("SELECT COUNT(*) FROM results WHERE model_sha=?", (model_sha,)).fetchone()[0]

    # -- focus measures (of the image alone, so every model evaluated on a set shares them) -------------------
    def get_focus(self, image_shas: Sequence[str], version: int) -> dict[str, tuple[dict, np.ndarray]]:
        """Stored ``(measures, block_map)`` of the given images under the focus rule ``version``."""
        q = "SELECT image_sha, measures, block_map FROM focus WHERE version=? AND image_sha IN ({})"
        with self._connect() as con:
            return {sha: (json.loads(measures), _from_npy(block_map))
                    for sha, measures, block_map in _select_in(con, q, [version], image_shas)}

    def put_focus(self, version: int, rows: Iterable[tuple[str, dict, np.ndarray]]) -> None:
        """Write ``(image_sha, measures, block_map)`` rows of the focus rule ``version`` in one transaction."""
        data = [(sha, version, json.dumps(measures), _npy(block_map)) for sha, measures, block_map in rows]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO focus VALUES (?,?,?,?)", data)

    # -- file hashes (so re-opening a set does not re-read every file) ----------------------------------------
    def get_hashes(self, stats: dict[str, tuple[int, int]]) -> dict[str, str]:
        """Known hashes of files whose ``(size, mtime_ns)`` still match."""
        q = "SELECT path, size, mtime_ns, sha FROM file_hashes WHERE path IN ({})"
        with self._connect() as con:
            return {p: sha for p, size, mtime, sha in _select_in(con, q, [], list(stats)) if stats[p] == (size, mtime)}

    def put_hashes(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?)", list(rows))

    # -- file header facts (of the bytes alone, shared by every model) ----------------------------------------
    def get_file_info(self, image_shas: Sequence[str]) -> dict[str, dict]:
        q = "SELECT image_sha, info FROM file_info WHERE image_sha IN ({})"
        with self._connect() as con:
            got = list(_select_in(con, q, [], image_shas))
        return dict(zip([sha for sha, _ in got], json.loads("[" + ",".join(info for _, info in got) + "]")))

    def get_derived(self, key: str) -> bytes | None:
        """Columns derived from images' content alone (``derived_columns``), stored under ``key``."""
        with self._connect() as con:
            row = con.execute("SELECT data FROM derived_columns WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def put_derived(self, key: str, data: bytes) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO derived_columns VALUES (?,?)", (key, data))

    def file_facts(self, image_shas: Sequence[str], keys: Sequence[str]) -> dict[str, tuple]:
        """image sha -> the values of some header facts (``None`` where absent), picked out by SQLite (no JSON
        parsed here): what a slice table needs of 100,000 files."""
        picks = ", ".join(f"json_extract(info, '$.{k}')" for k in keys)
        q = f"SELECT image_sha, {picks} FROM file_info WHERE image_sha IN ({{}})"
        with self._connect() as con:
            return {r[0]: r[1:] for r in _select_in(con, q, [], image_shas)}

    def put_file_info(self, rows: Iterable[tuple[str, dict]]) -> None:
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO file_info VALUES (?,?)",
                            [(sha, json.dumps(info)) for sha, info in rows])

    def get_image_hashes(self, image_shas: Sequence[str], version: int) -> dict[str, np.ndarray]:
        q = "SELECT image_sha, hashes FROM image_hashes WHERE version=? AND image_sha IN ({})"
        with self._connect() as con:
            return {h: np.frombuffer(b, np.uint8).reshape(-1, 32) for h, b in _select_in(con, q, [version], image_shas)}

    def put_image_hashes(self, version: int, rows: Iterable[tuple[str, bytes]]) -> None:
        with self._connect() as con:  # imaging.perceptual's hashes (pixels alone): (image_sha, uint8 (V, 32) bytes)
            con.executemany("INSERT OR REPLACE INTO image_hashes VALUES (?,?,?)", [(h, version, b) for h, b in rows])

    # -- probabilities of edited images (robustness curves) ----------------------------------------------------
    def get_edit_results(self, model_sha: str, edit: str, value: float, image_shas: Sequence[str]
                         ) -> dict[str, dict[str, float]]:
        """image sha -> probabilities of that image under ``edit`` at ``value``, for one model."""
        q = "SELECT image_sha, probs FROM edit_results WHERE model_sha=? AND edit=? AND value=? AND image_sha IN ({})"
        with self._connect() as con:
            return {sha: json.loads(p) for sha, p in _select_in(con, q, [model_sha, edit, float(value)], image_shas)}

    def put_edit_results(self, model_sha: str, rows: Iterable[tuple[str, str, float, dict]]) -> None:
        """Write ``(image_sha, edit, value, probs)`` rows in one transaction."""
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO edit_results VALUES (?,?,?,?,?)",
                            [(model_sha, sha, edit, float(v), json.dumps(p)) for sha, edit, v, p in rows])

    # -- triage -------------------------------------------------------------------------------------------
    def set_mark(self, model_sha: str, image_sha: str, mark: str | None, path: str = "", label: str = "",
                 owner: str = "") -> None:
        """Mark an image for a model (one of :data:`MARKS`), or clear the mark with ``None``; ``owner`` scopes it."""
        with self._connect() as con:
            if mark is None:
                con.execute("DELETE FROM triage WHERE owner=? AND model_sha=? AND image_sha=?",
                            (owner, model_sha, image_sha))
                return
            if mark not in MARKS:
                raise ValueError(f"unknown mark {mark!r}; choose one of {', '.join(MARKS)}")
            con.execute("INSERT OR REPLACE INTO triage (owner, model_sha, image_sha, mark, path, label, updated) "
                        "VALUES (?,?,?,?,?,?,?)", (owner, model_sha, image_sha, mark, path, label, time.time()))

    def marks(self, model_sha: str, owner: str = "") -> dict[str, dict]:
        """image sha -> ``{mark, path, label, updated}`` for one model, of one owner only."""
        with self._connect() as con:
            rows = con.execute("SELECT image_sha, mark, path, label, updated FROM triage WHERE owner=? AND model_sha=?",
                               (owner, model_sha)).fetchall()
        return {r[0]: {"mark": r[1], "path": r[2], "label": r[3], "updated": r[4]} for r in rows}
