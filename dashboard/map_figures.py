"""Figures of the Map page: the embedding map as a scatter (frames in, figures out; no model, no Streamlit), and the
decoding of a lasso, box or click selection on it, next to the figure whose ``customdata`` it reads.

Each point carries ``customdata = [path, file name, true class, decision, P(positive)]``. Plotly cannot show an
image in a hover label (its hover templates are text), so hovering shows the name, the classes and P(fake), and a
selection opens the selected images with their heatmaps in a gallery below the map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: What the points can be coloured by: frame column -> label in the page's picker.
COLOUR_BY = {"label": "true class", "pred": "prediction", "correct": "correct or not", "style": "style (slice)",
             "slice": "depth-of-field slice", "narrow_dof": "narrow_dof", "p_fake": "P(fake)"}
_PALETTE = ("#d6336c", "#2b8a3e", "#1c7ed6", "#f08c00", "#7048e8", "#0c8599", "#868e96", "#5c940d")
_FIXED = {"fake": "#d6336c", "real": "#2b8a3e", "True": "#2b8a3e", "False": "#e03131"}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def _custom(part: pd.DataFrame) -> np.ndarray:
    return np.stack([part["path"], part["path"].map(lambda p: Path(p).name), part["label"], part["pred"],
                     part["p_fake"].round(4)], -1)


def map_figure(frame: pd.DataFrame, colour_by: str, positive: str = "fake", title: str = "",
               selected: Sequence[str] = (), height: int = 560) -> go.Figure:
    """The map: one marker per image at ``(x, y)``; categorical columns become one trace per value (with a legend),
    ``p_fake`` a continuous colour scale. Lasso and box select are on.

    Args:
        frame: :func:`facefake_core.analysis.map_frame`'s columns.
        colour_by: a key of :data:`COLOUR_BY`.
        positive: the positive class's name (for the P(...) label).
        title: the figure's title.
        selected: paths to ring (the gallery's images).
    """
    hover = ("%{customdata[1]}<br>true %{customdata[2]}, predicted %{customdata[3]}<br>"
             f"P({positive}) %{{customdata[4]:.3f}}<br>select to open<extra></extra>")
    fig = go.Figure()
    if colour_by == "p_fake":
        fig.add_trace(go.Scatter(
            x=frame["x"], y=frame["y"], mode="markers", customdata=_custom(frame), hovertemplate=hover,
            name=f"P({positive})", marker={"color": frame["p_fake"], "colorscale": "RdYlGn_r", "cmin": 0, "cmax": 1,
                                           "size": 8, "opacity": 0.85, "colorbar": {"title": f"P({positive})"}}))
    else:
        values = frame[colour_by].astype(object).where(frame[colour_by].notna(), "n/a").astype(str)
        for i, value in enumerate(sorted(values.unique())):
            part = frame[values == value]
            fig.add_trace(go.Scatter(
                x=part["x"], y=part["y"], mode="markers", customdata=_custom(part), hovertemplate=hover,
                name=f"{value} ({len(part)})", marker={"color": _FIXED.get(value, _PALETTE[i % len(_PALETTE)]),
                                                       "size": 8, "opacity": 0.85}))
    ring = frame[frame["path"].isin(list(selected))]
    if not ring.empty:
        fig.add_trace(go.Scatter(x=ring["x"], y=ring["y"], mode="markers", name="in the gallery", hoverinfo="skip",
                                 marker={"size": 15, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}}))
    fig.update_layout(title=title, height=height, margin=_MARGIN, dragmode="lasso", clickmode="event+select",
                      legend={"title": COLOUR_BY.get(colour_by, colour_by)}, plot_bgcolor="white",
                      xaxis={"showticklabels": False, "title": "", "zeroline": False, "showgrid": False},
                      yaxis={"showticklabels": False, "title": "", "zeroline": False, "showgrid": False,
                             "scaleanchor": "x"})
    return fig


def selected_paths(event: Mapping[str, Any] | None) -> list[str]:
    """The image paths a lasso, box or click on :func:`map_figure` selected, in selection order, each once.

    Reads ``customdata[0]`` of each selected point; accepts the whole Streamlit event
    (``{"selection": {"points": [...]}}``) or the bare selection (``{"points": [...]}``). Points without a path (the
    gallery's rings) are skipped.
    """
    if not event:
        return []
    selection = event.get("selection", event) or {}
    out: list[str] = []
    for point in selection.get("points") or []:
        custom = point.get("customdata")
        path = custom[0] if isinstance(custom, (list, tuple)) and custom else None
        if isinstance(path, str) and path not in out:
            out.append(path)
    return out
