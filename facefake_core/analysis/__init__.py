"""Set-level analyses over evaluated sets: the depth-of-field tables and slices, counterfactual sweeps of photos
and of slices, and per-class spectra.

Layer 4: above :mod:`facefake_core.evaluation`. Tables are tidy :class:`pandas.DataFrame` objects.
"""

from .dof import (
    MAX_PER_SLICE,
    cam_bokeh_groups,
    default_slices,
    dof_edges,
    error_by_dof,
    focus_frame,
    row_by_path,
    slice_name,
    slice_rows,
    slice_table,
)
from .faithfulness import faithfulness
from .shortcuts import audit, metadata_auc
from .robustness_curves import DEFAULT_VALUES as DEFAULT_EDITS
from .robustness_curves import EDITS, parse_edit, robustness
from .slices import diagnose, file_infos, filter_slice, slice_columns, slice_metrics, slice_report
from .spectra import class_spectra, image_spectra
from .sweeps import SUMMARY_KINDS, CounterfactualSummary, SweepPoint, counterfactual_summary, sweep

__all__ = [
    "DEFAULT_EDITS", "EDITS", "audit", "faithfulness", "diagnose", "file_infos", "filter_slice", "metadata_auc", "parse_edit", "robustness",
    "slice_columns", "slice_metrics", "slice_report",
    "CounterfactualSummary", "MAX_PER_SLICE", "SUMMARY_KINDS", "SweepPoint", "cam_bokeh_groups",
    "class_spectra", "counterfactual_summary", "default_slices", "dof_edges", "error_by_dof", "focus_frame",
    "image_spectra", "row_by_path", "slice_name", "slice_rows", "slice_table", "sweep",
]
