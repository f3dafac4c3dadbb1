"""The store's tables (see :mod:`.store` for what each schema version added).

Schema 4's ``generations`` count, per model, every change to its rows in ``results``, ``class_cams`` and
``features``: triggers do the counting, so a change by any writer (this code, code that only knows schema 3, a
script's own SQL) is seen. A columnar copy of an evaluation (``evaluation_columns``, :mod:`.snapshot`) is valid only
at the generation it was written at, and while SQLite's own schema version is unchanged (a dropped table fires no
trigger).
"""

SCHEMA_VERSION = 4


SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model_sha TEXT NOT NULL,
    image_sha TEXT NOT NULL,
    probs TEXT NOT NULL,          -- JSON {class: probability}
    cam BLOB,                     -- float32 .npy of the layer grid, un-normalised
    cam_layer TEXT,
    focus TEXT,                   -- JSON of focus measures, or NULL
    created REAL NOT NULL,
    PRIMARY KEY (model_sha, image_sha)
);
CREATE TABLE IF NOT EXISTS class_cams (
    model_sha TEXT NOT NULL,
    image_sha TEXT NOT NULL,
    cams BLOB NOT NULL,           -- float32 .npy (n_classes, h, w): every class's grid, in the order of probs' keys
    PRIMARY KEY (model_sha, image_sha)
);
CREATE TABLE IF NOT EXISTS focus (
    image_sha TEXT NOT NULL,
    version INTEGER NOT NULL,     -- the focus rule's version (FOCUS_VERSION)
    measures TEXT NOT NULL,       -- JSON of the focus measures
    block_map BLOB NOT NULL,      -- float32 .npy of the block map
    PRIMARY KEY (image_sha, version)
);
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS file_info (
    image_sha TEXT PRIMARY KEY,
    info TEXT NOT NULL            -- JSON of the header facts (format, size, bytes, JPEG quality, subsampling)
);
CREATE TABLE IF NOT EXISTS image_hashes (image_sha TEXT, version INTEGER, hashes BLOB, PRIMARY KEY(image_sha, version));
CREATE TABLE IF NOT EXISTS edit_results (
    model_sha TEXT NOT NULL,
    image_sha TEXT NOT NULL,
    edit TEXT NOT NULL,           -- the robustness edit (jpeg, blur, downscale, background_blur)
    value REAL NOT NULL,
    probs TEXT NOT NULL,          -- JSON {class: probability} of the edited image
    PRIMARY KEY (model_sha, image_sha, edit, value)
);
CREATE TABLE IF NOT EXISTS features (
    model_sha TEXT NOT NULL,
    image_sha TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vec BLOB NOT NULL,            -- little-endian float16: the input of the head's final Linear
    PRIMARY KEY (model_sha, image_sha)
);
CREATE TABLE IF NOT EXISTS projections (
    model_sha TEXT NOT NULL,
    key TEXT NOT NULL,            -- method, parameters and a digest of the images, in order
    coords BLOB NOT NULL,         -- float32 .npy of shape (n, 2)
    created REAL NOT NULL,
    PRIMARY KEY (model_sha, key)
);
CREATE TABLE IF NOT EXISTS generations (
    model_sha TEXT PRIMARY KEY,
    n INTEGER NOT NULL            -- counted up by the triggers below on every change to the model's rows
);
CREATE TABLE IF NOT EXISTS evaluation_columns (
    model_sha TEXT NOT NULL,
    source TEXT NOT NULL,         -- the set, as evaluate() was given it
    stamp TEXT NOT NULL,          -- the model's generation and the schema's version when written: valid while equal
    data BLOB NOT NULL,           -- .npz of the set's columns (snapshot.py)
    created REAL NOT NULL,
    PRIMARY KEY (model_sha, source)
);
CREATE TABLE IF NOT EXISTS derived_columns (
    key TEXT PRIMARY KEY,         -- what was derived, its rule's version and a digest of the images, in order
    data BLOB NOT NULL            -- .npz of the columns (of the images' content alone, so never stale)
);
CREATE TABLE IF NOT EXISTS triage (
    owner TEXT NOT NULL DEFAULT '',  -- '' in local mode; a visitor's or user's key in public mode
    model_sha TEXT NOT NULL,
    image_sha TEXT NOT NULL,
    mark TEXT NOT NULL,
    path TEXT,
    label TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY (owner, model_sha, image_sha)
);
"""

#: Stores from before triage owners: the same columns without ``owner``; their rows become owner ``''``.
TRIAGE_V2 = """
CREATE TABLE triage_v2 (
    owner TEXT NOT NULL DEFAULT '', model_sha TEXT NOT NULL, image_sha TEXT NOT NULL, mark TEXT NOT NULL,
    path TEXT, label TEXT, updated REAL NOT NULL, PRIMARY KEY (owner, model_sha, image_sha)
);
INSERT INTO triage_v2 (owner, model_sha, image_sha, mark, path, label, updated)
    SELECT '', model_sha, image_sha, mark, path, label, updated FROM triage;
DROP TABLE triage;
ALTER TABLE triage_v2 RENAME TO triage;
"""

_COUNTED = ("results", "class_cams", "features")
#: One trigger per table and change (``INSERT OR REPLACE`` fires the insert trigger). The first statement never
#: conflicts: an outer ``INSERT OR REPLACE`` would impose its own conflict policy on an ``INSERT OR IGNORE`` here.
TRIGGERS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_count AFTER {event} ON {table} BEGIN
    INSERT INTO generations SELECT {row}.model_sha, 0
        WHERE NOT EXISTS (SELECT 1 FROM generations WHERE model_sha = {row}.model_sha);
    UPDATE generations SET n = n + 1 WHERE model_sha = {row}.model_sha;
END;"""
    for table in _COUNTED for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")))
