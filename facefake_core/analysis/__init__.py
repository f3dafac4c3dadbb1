"""Set-level analyses over evaluated sets: the depth-of-field tables and slices, counterfactual sweeps of photos
and of slices, per-class spectra, the feature space (maps, neighbours, near-duplicates), and how far heatmaps can
be trusted (faithfulness per map and per CAM method on a set, the sanity check).

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
from .embedding import (
    METHODS as EMBED_METHODS,
    EmbeddingMap,
    NearDuplicate,
    Neighbour,
    SetFeatures,
    embedding_map,
    image_hashes,
    map_frame,
    near_duplicates,
    neighbours,
    project,
    set_features,
    stored_features,
)
from .faithfulness import faithfulness
from .method_faithfulness import DEFAULT_METHODS as FAITHFULNESS_METHODS
from .method_faithfulness import MethodTable, check_methods, errors_sample, method_table
from .randomisation import sanity
from .shortcuts import audit, metadata_auc
from .robustness_curves import DEFAULT_VALUES as DEFAULT_EDITS
from .robustness_curves import EDITS, parse_edit, robustness
from .slices import (
    diagnose, file_infos, filter_slice, header_columns, slice_columns, slice_metrics, slice_report,
)
from .spectra import class_spectra, image_spectra
from .sweeps import SUMMARY_KINDS, CounterfactualSummary, SweepPoint, counterfactual_summary, sweep

__all__ = [
    "CounterfactualSummary", "DEFAULT_EDITS", "EDITS", "EMBED_METHODS", "EmbeddingMap", "FAITHFULNESS_METHODS",
    "MAX_PER_SLICE", "MethodTable", "check_methods", "errors_sample", "method_table",
    "NearDuplicate", "Neighbour", "SUMMARY_KINDS", "SetFeatures", "SweepPoint", "audit", "cam_bokeh_groups",
    "diagnose", "embedding_map", "faithfulness", "file_infos", "filter_slice", "header_columns", "map_frame", "metadata_auc",
    "near_duplicates", "neighbours", "parse_edit", "project", "robustness", "sanity", "set_features", "slice_columns",
    "stored_features",
    "slice_metrics", "slice_report",
    "class_spectra", "counterfactual_summary", "default_slices", "dof_edges", "error_by_dof", "focus_frame",
    "image_hashes", "image_spectra", "row_by_path", "slice_name", "slice_rows", "slice_table", "sweep",
]
