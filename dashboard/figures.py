"""Plotly figures: arrays in, figures out. No model, no Streamlit (pages pass them to ``st.plotly_chart``).

The confusion matrix is a *scatter* of square markers, not a heatmap: Streamlit only reports selections on
scatter-type traces (heatmap selections come back empty, Streamlit issues 8760 / 8933 / 15042). Each point
carries ``customdata = [true, pred]``, which :func:`cell_from_selection` (below) reads back. No model,
no Streamlit: the decoding of a click stays next to the figure that writes the ``customdata`` it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

_CLASS_COLOURS = {"fake": "#d6336c", "real": "#2b8a3e"}
_ROUND_COLOURS = ("#d6336c", "#1c7ed6", "#2b8a3e", "#f08c00", "#7048e8")


def prob_bar(probs: Mapping[str, float]) -> go.Figure:
    """Horizontal bars of ``P(class)``, one per class, on a fixed 0-1 axis."""
    names = list(probs)
    values = [float(probs[c]) for c in names]
    fig = go.Figure(go.Bar(
        x=values, y=[f"P({c})" for c in names], orientation="h", text=[f"{v:.1%}" for v in values],
        textposition="auto", marker_color=[_CLASS_COLOURS.get(c.lower(), "#495057") for c in names],
        hovertemplate="%{y} = %{x:.4f}<extra></extra>"))
    fig.update_layout(xaxis={"range": [0, 1], "tickformat": ".0%"}, yaxis={"autorange": "reversed"},
                      height=60 + 45 * len(names), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def confusion_figure(confusion: np.ndarray, labels: Sequence[str], selected: tuple[str, str] | None = None
                     ) -> go.Figure:
    """The confusion matrix as clickable squares: predicted class on x, true class on y (first class on top).

    Args:
        confusion: ``(n, n)`` counts, rows true, columns predicted, in ``labels`` order.
        labels: class names.
        selected: ``(true, pred)`` cell to outline.
    """
    cm = np.asarray(confusion)
    rows = cm.sum(1)
    xs, ys, counts, texts, custom, lines = [], [], [], [], [], []
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            n = int(cm[i, j])
            share = f"{n / rows[i]:.0%}" if rows[i] else "–"
            xs.append(p), ys.append(t), counts.append(n), custom.append([t, p])
            texts.append(f"<b>{n}</b><br>{share} of {t}")
            lines.append(4 if selected == (t, p) else 0)
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, customdata=custom,
        textfont={"size": 15, "color": ["white" if c > cm.max() / 2 else "black" for c in counts]},
        marker={"symbol": "square", "size": 110, "color": counts, "colorscale": "Blues", "cmin": 0,
                "cmax": max(int(cm.max()), 1), "line": {"width": lines, "color": "#d6336c"}},
        hovertemplate="true %{customdata[0]}, predicted %{customdata[1]}<br>click to open these images<extra></extra>"))
    fig.update_layout(
        xaxis={"title": "Predicted", "type": "category", "categoryorder": "array", "categoryarray": list(labels),
               "side": "top", "fixedrange": True},
        yaxis={"title": "True", "type": "category", "categoryorder": "array", "categoryarray": list(labels)[::-1],
               "fixedrange": True},
        height=150 + 120 * len(labels), width=150 + 130 * len(labels), margin={"l": 10, "r": 10, "t": 10, "b": 10},
        clickmode="event+select", dragmode=False, showlegend=False, plot_bgcolor="white")
    return fig


def roc_figure(fpr: np.ndarray, tpr: np.ndarray, auc: float | None, eer: float | None) -> go.Figure:
    """ROC curve with the chance diagonal; the title carries AUC and the EER point is marked."""
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#adb5bd"}, name="chance"),
        go.Scatter(x=fpr, y=tpr, mode="lines", line={"color": "#d6336c"}, name="ROC")])
    if eer is not None:
        fig.add_trace(go.Scatter(x=[eer], y=[1 - eer], mode="markers", marker={"size": 10, "color": "#1c7ed6"},
                                 name=f"EER {eer:.3f}"))
    fig.update_layout(title=f"ROC · AUC {_fmt(auc)} · EER {_fmt(eer)}", xaxis_title="False positive rate",
                      yaxis_title="True positive rate", height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"range": [0, 1]}, yaxis={"range": [0, 1.02]}, legend={"x": 0.6, "y": 0.1})
    return fig


def pr_figure(recall: np.ndarray, precision: np.ndarray, ap: float | None, positive: str = "fake") -> go.Figure:
    """Precision-recall curve of the positive class; the title carries the average precision."""
    fig = go.Figure(go.Scatter(x=recall, y=precision, mode="lines", line={"color": "#d6336c"}, name="PR"))
    fig.update_layout(title=f"Precision-recall ({positive}) · AP {_fmt(ap)}", xaxis_title="Recall",
                      yaxis_title="Precision", height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis={"range": [0, 1]}, yaxis={"range": [0, 1.02]})
    return fig


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def reliability_figure(bins: Sequence[Mapping], title: str = "Reliability") -> go.Figure:
    """Fraction fake against mean P(fake) per bin (a calibrated model lies on the diagonal), bin counts as bars."""
    full = [b for b in bins if b["n"]]
    fig = go.Figure([
        go.Bar(x=[(b["lo"] + b["hi"]) / 2 for b in bins], y=[b["n"] for b in bins], width=0.09, yaxis="y2",
               marker_color="#dee2e6", opacity=0.6, name="images per bin",
               hovertemplate="%{y} images<extra></extra>"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#adb5bd"}, name="calibrated"),
        go.Scatter(x=[b["mean_p_fake"] for b in full], y=[b["frac_fake"] for b in full], mode="lines+markers",
                   line={"color": "#d6336c"}, name="this model",
                   hovertemplate="mean P(fake) %{x:.3f}<br>fraction fake %{y:.3f}<extra></extra>")])
    fig.update_layout(title=title, xaxis={"title": "mean P(fake) in the bin", "range": [0, 1]},
                      yaxis={"title": "fraction fake", "range": [0, 1.02]},
                      yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": "images"},
                      height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "x": 0, "y": -0.2})
    return fig


def robustness_figure(runs: Mapping[str, Mapping], identity: Mapping[str, float], metric: str = "auc",
                      cls: str | None = None) -> go.Figure:
    """One panel per edit, one line per run (round): ``metric`` (``auc``, ``ap``, or per-class ``accuracy`` /
    ``mean_p_fake`` of ``cls``) against the edit's value; the unedited point sits at the edit's identity value."""
    edits = list(dict.fromkeys(c["edit"] for run in runs.values() for c in run["curves"] if c["edit"] != "none"))
    fig = make_subplots(rows=1, cols=max(1, len(edits)), subplot_titles=edits or ["no edits"], shared_yaxes=True)

    def value(c: Mapping) -> float | None:
        if metric == "accuracy":
            return c["per_class_accuracy"].get(cls)
        return c["mean_p_fake"].get(cls) if metric == "mean_p_fake" else c[metric]

    for k, (name, run) in enumerate(runs.items()):
        none = next(c for c in run["curves"] if c["edit"] == "none")
        for j, edit in enumerate(edits, 1):
            pts = [(identity[edit], value(none))] + [(c["value"], value(c)) for c in run["curves"] if c["edit"] == edit]
            pts.sort()
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name,
                                     legendgroup=name, showlegend=j == 1,
                                     line={"color": _ROUND_COLOURS[k % len(_ROUND_COLOURS)]}), row=1, col=j)
    label = {"auc": "AUC", "ap": "AP", "accuracy": f"accuracy of {cls}", "mean_p_fake": f"mean P(fake) of {cls}"}
    fig.update_yaxes(range=[0, 1.02], title_text=label[metric], col=1)
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def road_figure(f: Mapping) -> go.Figure:
    """The change of the target's logit after removing the most (MoRF) and least (LeRF) relevant pixels."""
    fig = go.Figure([go.Scatter(x=f["percentiles"], y=f["morf"], mode="lines+markers", name="most relevant removed",
                                line={"color": "#d6336c"}),
                     go.Scatter(x=f["percentiles"], y=f["lerf"], mode="lines+markers",
                                name="least relevant removed", line={"color": "#1c7ed6"})])
    fig.add_hline(y=0, line_dash="dot", line_color="#adb5bd")
    fig.update_layout(xaxis_title="pixels removed (%)", yaxis_title="change of the target's logit", height=300,
                      margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return fig


def cell_from_selection(event: Mapping[str, Any] | None, labels: Sequence[str]) -> tuple[str, str] | None:
    """The confusion cell a click on :func:`confusion_figure` picked, from a Streamlit plotly selection event.

    The matrix is drawn as a scatter with the predicted class on x and the true class on y, each point carrying
    ``customdata = [true, pred]``. Both the whole event (``{"selection": {"points": [...]}}``) and the bare
    selection (``{"points": [...]}``) are accepted; the first point that names two known classes wins.

    Returns:
        ``(true, pred)``, or ``None`` when nothing usable is selected.
    """
    if not event:
        return None
    selection = event.get("selection", event)
    for point in (selection or {}).get("points") or []:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and len(custom) >= 2:
            true, pred = str(custom[0]), str(custom[1])
        else:
            true, pred = str(point.get("y")), str(point.get("x"))
        if true in labels and pred in labels:
            return true, pred
    return None
