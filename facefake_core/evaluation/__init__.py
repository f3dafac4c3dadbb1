"""A model on a labelled hard set: discovering the set, running it in batches into the results store (SQLite,
keyed by the model's and the image's hashes), metrics at any threshold, browsing cells and errors, comparing
rounds, and triage marks.

Layer 3: above :mod:`facefake_core.model` and :mod:`facefake_core.imaging`.
"""

from .calibration import BestThreshold, Calibration, Recalibration, best_threshold, calibration, fit_recalibration
from .browse import (
    Cell, by_loss, decisions, errors_by_loss, find_row, most_wrong_first, rows_in_cell, stored_cam, stored_heatmap,
)
from .hardset import IMAGE_EXTS, HardSet, Item, discover
from .metrics import Metrics, compute, curves, equal_error_rate, positive_class, predict_at
from .rounds import Disagreement, disagreements, seed_table
from .lanes import cpu_lanes, decode_workers
from .rows import Evaluation, Row
from .table import LazyRows
from .runner import evaluate, stored_focus
from .store import MARKS, Store, StoredResult
from .triage import CSV_COLUMNS, MODEL_WRONG, CopyReport, copy_model_wrong, marks_csv, zip_model_wrong

__all__ = [
    "BestThreshold", "Calibration", "Recalibration", "best_threshold", "calibration", "fit_recalibration",
    "CSV_COLUMNS", "Cell", "CopyReport", "Disagreement", "Evaluation", "HardSet", "IMAGE_EXTS", "Item", "LazyRows", "MARKS",
    "MODEL_WRONG", "Metrics", "Row", "Store", "StoredResult", "by_loss", "compute", "copy_model_wrong", "cpu_lanes",
    "curves", "decisions", "decode_workers", "disagreements", "discover", "equal_error_rate", "errors_by_loss",
    "evaluate", "find_row", "marks_csv", "most_wrong_first", "positive_class", "predict_at", "rows_in_cell", "seed_table",
    "stored_cam", "stored_focus", "stored_heatmap", "zip_model_wrong",
]
