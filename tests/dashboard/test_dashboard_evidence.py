"""AppTest of the set-level evidence on the Hard set and Rounds pages: the slice table and its filter, calibration
and the recalibration what-if, robustness curves, and the shortcut audit."""

from __future__ import annotations

from test_dashboard import button, env, has_button, ok, radio, start  # noqa: F401  (env is a fixture)
from test_dashboard import demo, tiny_demo  # noqa: F401  (fixtures)


def _demo_set(at, key: str):
    radio(at, f"{key}_kind").set_value("Demo set").run()
    if has_button(at, f"{key}_demo"):
        button(at, f"{key}_demo").click().run()
    ok(at)


def test_hard_set_slices_filter_calibration_robustness_and_audit(env, demo):
    at = start("views/hard_set.py")
    _demo_set(at, "hs")
    button(at, "hs_run").click().run()
    ok(at)
    at.selectbox(key="hs_slice_col").set_value("style").run()
    ok(at)
    table = next(d.value for d in at.dataframe if "value" in d.value.columns)
    assert sorted(table["value"]) == ["casual", "studio"] and int(table["n"].sum()) == 8
    assert {"AUC", "fake accuracy", "real accuracy", "balanced accuracy", "best threshold", "ECE", "Brier"} <= set(table)
    at.checkbox(key="hs_slice_ci").check().run()
    ok(at)
    table = next(d.value for d in at.dataframe if "value" in d.value.columns)
    assert "AUC 95% CI" in table.columns
    at.query_params["slice"] = "style=studio"
    at.run()
    ok(at)
    shown = [i.value for i in at.info if i.value.startswith("Showing the slice style = studio")]
    n_studio = int(table.set_index("value").loc["studio", "n"])
    assert shown and f": {n_studio} of 8 images" in shown[0]
    assert {m.label for m in at.metric} >= {"ECE", "Brier", "Best threshold"}
    radio(at, "hs_recal").set_value("logit bias").run()
    ok(at)
    assert any("Fitted on the set shown here" in c.value for c in at.caption)
    button(at, "hs_slice_clear").click().run()
    ok(at)
    assert not any(i.value.startswith("Showing the slice") for i in at.info)

    at.multiselect(key="hs_rob_edits").set_value(["jpeg"]).run()
    at.text_input(key="hs_rob_jpeg").input("50").run()
    button(at, "hs_rob_run").click().run()
    ok(at)
    assert any(r.key == "hs_rob_metric" for r in at.radio)

    at.toggle(key="hs_audit").set_value(True).run()
    ok(at)
    assert any(m.label == "metadata_auc" for m in at.metric)


def test_rounds_show_slices_per_round_and_overlaid_robustness(env, demo):
    at = start("views/rounds.py")
    _demo_set(at, "rd")
    at.multiselect(key="rd_models").select("demo:round0").select("demo:round1").run()
    for i in (1, 2):
        if has_button(at, f"rd_model_{i}_demo_ok"):
            button(at, f"rd_model_{i}_demo_ok").click().run()
    button(at, "rd_run").click().run()
    ok(at)
    slice_tables = [d.value for d in at.dataframe if "value" in d.value.columns]
    assert len(slice_tables) == 3  # one per round: the loaded model, round0, round1
    at.multiselect(key="rd_rob_edits").set_value(["blur"]).run()
    at.text_input(key="rd_rob_blur").input("2").run()
    button(at, "rd_rob_run").click().run()
    ok(at)
    assert any(r.key == "rd_rob_metric" for r in at.radio)
