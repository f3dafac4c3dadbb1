"""Figures of the Depth of field page: frames in, figures out (no model, no Streamlit), and the decoding of a
click on the scatter, next to the figure whose ``customdata`` it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from facefake_core import CONFIG
from facefake_core.analysis import CounterfactualSummary
from facefake_core.imaging import NARROW_DOF_THRESHOLD, VARIANTS

_CLASS_COLOURS = ("#d6336c", "#2b8a3e", "#1c7ed6", "#f08c00")
_OK, _WRONG = "#2b8a3e", "#e03131"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def bins_figure(table, vocab, column: str, title: str) -> go.Figure:
    fig = go.Figure([go.Bar(x=part["bin"], y=part[column], name=label, text=[f"n={n}" for n in part["n"]],
                            marker_color=_CLASS_COLOURS[i % 4], textposition="outside")
                     for i, label in enumerate(vocab) for part in [table[table["label"] == label]]])
    fig.update_layout(title=title, barmode="group", xaxis_title="depth-of-field score bin (log10 face / background)",
                      yaxis={"range": [0, 1.1], "tickformat": ".0%" if column == "error_rate" else ".1f"},
                      height=340, margin=_MARGIN)
    return fig


def scatter_figure(frame, x: str, selected: str | None, positive: str) -> go.Figure:
    xs = frame[x].clip(lower=1e-3) if x == "sharpness_ratio" else frame[x]
    fig = go.Figure()
    for correct in (False, True):
        for label, symbol in zip(sorted(frame["label"].unique()), ("circle", "diamond", "square", "cross")):
            part = frame[(frame["correct"] == correct) & (frame["label"] == label)]
            if part.empty:
                continue
            fig.add_trace(go.Scatter(
                x=xs[part.index], y=part["p_fake"], mode="markers",
                name=f"{label} · {'correct' if correct else 'error'}",
                marker={"color": _OK if correct else _WRONG, "symbol": symbol, "size": 9, "opacity": 0.8},
                customdata=np.stack([part["path"], part["label"], part["path"].map(lambda p: Path(p).name)], -1),
                hovertemplate=f"%{{customdata[2]}} (true %{{customdata[1]}})<br>P({positive}) %{{y:.3f}}<br>"
                              f"{x} %{{x:.3g}}<extra></extra>"))
    chosen = frame[frame["path"] == selected]
    if not chosen.empty:
        fig.add_trace(go.Scatter(x=xs[chosen.index], y=chosen["p_fake"], mode="markers", name="open image",
                                 marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}},
                                 hoverinfo="skip"))
    cut = NARROW_DOF_THRESHOLD if x == "dof_score" else 10 ** NARROW_DOF_THRESHOLD
    fig.add_vline(x=cut, line_dash="dot", line_color="#868e96")
    # An annotation on a log axis takes log10 of its position, which is the score threshold itself.
    fig.add_annotation(x=NARROW_DOF_THRESHOLD, y=1, yref="paper", text=" narrow DOF →", showarrow=False,
                       xanchor="left", font={"color": "#868e96"})
    axis = {"title": x.replace("_", " ")}
    if x == "sharpness_ratio":  # whole ratios as ticks (plotly labels a short log range with bare mantissas)
        ticks = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
        axis.update(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_layout(xaxis=axis,
                      yaxis={"title": f"P({positive})", "range": [-0.02, 1.02]}, height=420, margin=_MARGIN,
                      clickmode="event+select")
    return fig


def sweep_figure(points, positive: str, label: str) -> go.Figure:
    values = [p.value for p in points]
    probs = [p.explanation.probs[positive] for p in points]
    fig = go.Figure(go.Scatter(x=values, y=probs, mode="lines+markers", line={"color": "#d6336c"},
                               hovertemplate=f"{label} %{{x:g}}<br>P({positive}) %{{y:.4f}}<extra></extra>"))
    fig.add_hline(y=CONFIG.threshold, line_dash="dot", line_color="#868e96")
    fig.update_layout(xaxis_title=label, yaxis={"title": f"P({positive})", "range": [0, 1]}, height=300,
                      margin=_MARGIN)
    return fig


def spectrum_figure(region: str, stats: dict, image_profile, name: str) -> go.Figure:
    fig = go.Figure()
    for i, (label, by_region) in enumerate(stats.items()):
        s = by_region.get(region)
        if s is None:
            continue
        colour = _CLASS_COLOURS[i % 4]
        fig.add_trace(go.Scatter(x=np.r_[s.freqs, s.freqs[::-1]], y=np.r_[s.mean + s.std, (s.mean - s.std)[::-1]],
                                 fill="toself", line={"width": 0}, fillcolor=colour, opacity=0.15,
                                 name=f"{label} ± 1 sd", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=s.freqs, y=s.mean, mode="lines", line={"color": colour},
                                 name=f"{label} mean ({s.count} images)"))
    if image_profile is not None:
        fig.add_trace(go.Scatter(x=image_profile.freqs, y=image_profile.log_power, mode="lines",
                                 line={"color": "black", "width": 2.5}, name=name))
    fig.update_layout(xaxis_title="frequency (cycles / px)", yaxis_title="log10 power of the high-pass residual",
                      height=360, margin=_MARGIN)
    return fig


def bokeh_figure(groups: dict, measure: str, title: str) -> go.Figure:
    fig = go.Figure([go.Box(y=g[measure], name=f"{name} ({g['n']})", boxpoints="all", jitter=0.4, boxmean=True,
                            marker_color=_WRONG if name == "error" else _OK) for name, g in groups.items()])
    fig.update_layout(title=title, yaxis={"range": [0, 1], "tickformat": ".0%"}, height=340, margin=_MARGIN,
                      showlegend=False)
    return fig


def summary_figure(summary: CounterfactualSummary, positive: str) -> go.Figure:
    kinds = list(dict.fromkeys(summary.table["kind"]))
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[VARIANTS[k].label for k in kinds], shared_yaxes=True)
    slices = list(dict.fromkeys(summary.table["slice"]))
    for j, kind in enumerate(kinds, 1):
        for i, name in enumerate(slices):
            part = summary.table[(summary.table["kind"] == kind) & (summary.table["slice"] == name)]
            fig.add_trace(go.Scatter(x=part["value"], y=part["mean_p_fake"], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=j == 1, line={"color": _CLASS_COLOURS[i % 4]}),
                          row=1, col=j)
    fig.update_yaxes(range=[0, 1], title_text=f"mean P({positive})", col=1)
    fig.update_layout(height=340, margin=_MARGIN)
    return fig


def selected_path(event: Mapping[str, Any] | None) -> str | None:
    """The image path a click on :func:`scatter_figure` picked, from a Streamlit plotly selection event.

    Each point of the scatter carries ``customdata = [path, label, file name]``. The whole event
    (``{"selection": {"points": [...]}}``) and the bare selection (``{"points": [...]}``) are both accepted.

    Returns:
        The first selected point's path, or ``None`` when nothing usable is selected.
    """
    if not event:
        return None
    selection = event.get("selection", event) or {}
    for point in selection.get("points") or []:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and custom and isinstance(custom[0], str):
            return custom[0]
        if isinstance(custom, str):
            return custom
    return None
