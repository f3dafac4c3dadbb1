"""The Map page's figure and the decoding of a selection on it: every point carries the path the decoder reads."""

import pandas as pd

from dashboard.map_figures import COLOUR_BY, map_figure, selected_paths


def frame() -> pd.DataFrame:
    return pd.DataFrame({"path": ["/s/a.png", "/s/b.png", "/s/c.png"], "x": [0.0, 1.0, 2.0], "y": [1.0, 0.0, 2.0],
                         "label": ["fake", "fake", "real"], "pred": ["real", "fake", "real"], "p_fake": [0.2, 0.9, 0.1],
                         "correct": [False, True, True], "style": ["studio", "casual", "casual"],
                         "slice": ["narrow-DOF fakes", None, "sharp reals"], "narrow_dof": [True, None, False]})


def test_every_colouring_draws_every_point_once_with_its_path():
    f = frame()
    for colour in COLOUR_BY:
        fig = map_figure(f, colour, selected=["/s/b.png"])
        points = [(c[0], x, y) for t in fig.data if t.customdata is not None
                  for c, x, y in zip(t.customdata, t.x, t.y)]
        assert sorted(points) == sorted(zip(f["path"], f["x"], f["y"])), colour
        assert fig.data[-1].name == "in the gallery" and fig.data[-1].customdata is None
    assert {t.name for t in map_figure(f, "label").data} == {"fake (2)", "real (1)"}
    assert {t.name for t in map_figure(f, "narrow_dof").data} == {"True (1)", "False (1)", "n/a (1)"}


def test_selection_decodes_to_paths_in_order_each_once():
    fig = map_figure(frame(), "label")
    custom = [list(c) for t in fig.data for c in t.customdata]
    event = {"selection": {"points": [{"customdata": custom[2]}, {"customdata": custom[0]},
                                      {"customdata": custom[2]}, {"x": 1, "y": 2}]}}
    assert selected_paths(event) == [custom[2][0], custom[0][0]]
    assert selected_paths(event["selection"]) == selected_paths(event)
    assert selected_paths(None) == [] and selected_paths({"selection": {"points": []}}) == []
