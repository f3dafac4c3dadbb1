"""The dashboard's figures (no Streamlit) and the decoding of clicks on them, which lives next to the figure whose
``customdata`` it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import dof_figures, figures
from dashboard.dof_figures import selected_path
from dashboard.figures import cell_from_selection

VOCAB = ("fake", "real")


def test_cell_from_selection_reads_customdata_or_axes():
    point = {"curve_number": 0, "point_number": 1, "x": "real", "y": "fake", "customdata": ["fake", "real"]}
    assert cell_from_selection({"selection": {"points": [point], "point_indices": [1]}}, VOCAB) == ("fake", "real")
    assert cell_from_selection({"points": [point]}, VOCAB) == ("fake", "real")
    bare = {"x": "fake", "y": "real"}  # no customdata: y is the true class, x the predicted one
    assert cell_from_selection({"selection": {"points": [bare]}}, VOCAB) == ("real", "fake")
    assert cell_from_selection({"selection": {"points": []}}, VOCAB) is None
    assert cell_from_selection({"selection": {"points": [{"x": 1.0, "y": 2.0}]}}, VOCAB) is None
    assert cell_from_selection(None, VOCAB) is None
    assert cell_from_selection({}, VOCAB) is None


def test_confusion_figure_points_map_back_to_their_cells():
    cm = np.array([[5, 2], [1, 7]])
    fig = figures.confusion_figure(cm, ("fake", "real"), selected=("fake", "real"))
    trace = fig.data[0]
    assert trace.type == "scatter"  # Streamlit reports selections on scatter traces, not on heatmaps
    cells = [tuple(c) for c in trace.customdata]
    assert cells == [("fake", "fake"), ("fake", "real"), ("real", "fake"), ("real", "real")]
    assert [t.split("<br>")[0] for t in trace.text] == ["<b>5</b>", "<b>2</b>", "<b>1</b>", "<b>7</b>"]
    assert list(trace.marker.line.width) == [0, 4, 0, 0]
    # What Streamlit sends back for a click on the second point:
    event = {"selection": {"points": [{"curve_number": 0, "point_index": 1, "x": trace.x[1], "y": trace.y[1],
                                       "customdata": list(trace.customdata[1])}], "point_indices": [1]}}
    assert cell_from_selection(event, ("fake", "real")) == ("fake", "real")


def test_curve_and_bar_figures():
    bar = figures.prob_bar({"fake": 0.25, "real": 0.75})
    assert list(bar.data[0].x) == [0.25, 0.75] and list(bar.data[0].y) == ["P(fake)", "P(real)"]
    roc = figures.roc_figure(np.array([0, 0.5, 1]), np.array([0, 0.8, 1]), 0.8, 0.3)
    assert "AUC 0.800" in roc.layout.title.text and len(roc.data) == 3
    pr = figures.pr_figure(np.array([1, 0.5, 0]), np.array([0.5, 0.8, 1]), None)
    assert "AP n/a" in pr.layout.title.text


def test_scatter_click_maps_to_a_path():
    point = {"customdata": ["/set/fake/C.png", "fake", "C.png"], "x": 15.8, "y": 0.2}
    assert selected_path({"selection": {"points": [point]}}) == "/set/fake/C.png"
    assert selected_path({"points": [point]}) == "/set/fake/C.png"
    assert selected_path({"selection": {"points": [{"x": 1, "y": 2}, point]}}) == "/set/fake/C.png"  # ring trace first
    assert selected_path({"selection": {"points": []}}) is None
    assert selected_path(None) is None


def test_scatter_points_carry_the_path_the_click_decodes():
    frame = pd.DataFrame({"path": ["/set/fake/A.png", "/set/real/B.png"], "label": ["fake", "real"],
                          "correct": [False, True], "p_fake": [0.2, 0.1], "sharpness_ratio": [4.0, 1.0],
                          "dof_score": [0.6, 0.0]})
    fig = dof_figures.scatter_figure(frame, "dof_score", None, "fake")
    paths = []
    for trace in fig.data:
        for i, custom in enumerate(trace.customdata):
            event = {"selection": {"points": [{"x": trace.x[i], "y": trace.y[i], "customdata": list(custom)}]}}
            paths.append(selected_path(event))
    assert sorted(paths) == ["/set/fake/A.png", "/set/real/B.png"]
