"""Set-level evidence sections, shared by the Hard set and Rounds pages: the slice table (a click filters the page
to a slice), calibration with the threshold-shift diagnosis and a recalibration what-if, robustness curves, the
shortcut audit, and which CAM method is most faithful. Sections lay out; the core computes
(``facefake_core.analysis``, ``facefake_core.evaluation``).
"""

from __future__ import annotations

import streamlit as st

from facefake_core import Evaluation, FacefakeError, Model, analysis
from facefake_core.evaluation import compute, fit_recalibration
from facefake_core.imaging import VARIANTS
from facefake_core.model import CAM_METHODS

from dashboard import figures, mode, state, tables
from dashboard.widgets import progress_bar

PERCENT = st.column_config.NumberColumn(format="percent")
NUMBER = st.column_config.NumberColumn(format="%.3f")


def _negative(ev: Evaluation) -> str:
    return next(v for v in ev.vocab if v != ev.positive)


def _slice_param() -> tuple[str, str] | None:
    col, sep, value = (st.query_params.get("slice") or "").partition("=")
    return (col, value) if sep else None


def _pick_slice(table_key: str, column: str, values: list[str]) -> None:
    """A click on a line of the slice table (a selection change only, so "Show the whole set" stays shown)."""
    rows = st.session_state[table_key].selection.rows
    if rows:
        st.query_params["slice"] = f"{column}={values[rows[0]]}"


def _clear_slice() -> None:
    st.query_params.pop("slice", None)


def slices(ev: Evaluation, source: str, threshold: float, key: str) -> Evaluation:
    """The slice table of one column; clicking a line filters the page (``?slice=column=value``). Returns the
    evaluation restricted to the chosen slice (all of ``ev`` when none is chosen)."""
    cols = state.slice_columns(ev, ev.model_sha, source, len(ev.rows))
    if not cols:
        st.caption("This set has no slice columns (no manifest columns, focus measures or readable headers).")
        return ev
    chosen = _slice_param()
    names = list(cols)
    c1, c2 = st.columns([2, 1])
    column = c1.selectbox("Slice by", names, key=f"{key}_slice_col",
                          index=names.index(chosen[0]) if chosen and chosen[0] in names else 0,
                          help="Manifest columns, narrow depth of field, file format, size and JPEG quality buckets")
    ci = c2.checkbox("95% intervals (bootstrap)", key=f"{key}_slice_ci", help="1,000 seeded resamples per number")
    report = state.slice_report(ev, ev.model_sha, source, len(ev.rows), threshold, column, ci)
    frame = tables.slice_frame(report, ev.vocab)
    table_key = f"{key}_slices_{column}"
    st.dataframe(frame, hide_index=True, key=table_key, selection_mode="single-row",
                 on_select=lambda: _pick_slice(table_key, column, list(frame["value"])),
                 column_config={**{c: PERCENT for c in frame if "acc" in c},
                                **{c: NUMBER for c in ("AUC", "AP", "EER", "best threshold", "ECE", "Brier")}})
    chosen = _slice_param()
    neg = _negative(ev)
    for value, s in report.items():
        text = analysis.diagnose(s, threshold, f" on {column} = {value}", ev.positive, neg)
        if text:
            st.warning(text)
    if chosen and chosen[0] in cols:
        sub = analysis.filter_slice(ev, cols, *chosen)
        left, right = st.columns([4, 1])
        left.info(f"Showing the slice {chosen[0]} = {chosen[1]}: {len(sub.rows)} of {len(ev.rows)} images "
                  "(matrix, curves and galleries below).")
        right.button("Show the whole set", key=f"{key}_slice_clear", on_click=_clear_slice)
        return sub
    return ev


def calibration(ev: Evaluation, threshold: float, key: str, name: str = "") -> None:
    """Reliability diagram, ECE / Brier / best threshold, the diagnosis in words, and a recalibration what-if."""
    cal, best = ev.calibration(), ev.best_threshold(threshold)
    whole = analysis.slice_metrics(ev.labels(), ev.p_pos(), ev.vocab, threshold, ci=False)
    text = analysis.diagnose(whole, threshold, "", ev.positive, _negative(ev))
    if text:
        st.warning(text)
    left, right = st.columns([3, 2])
    left.plotly_chart(figures.reliability_figure(cal.bins, f"Reliability{' · ' + name if name else ''}"),
                      key=f"{key}_rel")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    a, b, c = right.columns(3)
    a.metric("ECE", fmt(cal.ece))
    b.metric("Brier", fmt(cal.brier))
    c.metric("Best threshold", fmt(best.threshold), help="The P(fake) cut that maximises balanced accuracy")
    if best.threshold is not None:
        right.caption("At the best threshold: " + ", ".join(
            f"{k} accuracy {v:.0%}" for k, v in best.per_class_accuracy.items()))
    kind = right.radio("What if the scores were recalibrated?", ["no", "logit bias", "temperature"],
                       horizontal=True, key=f"{key}_recal")
    if kind == "no" or best.threshold is None:
        return
    fit = fit_recalibration(ev.y(), ev.p_pos(), "bias" if kind == "logit bias" else "temperature", "the set shown")
    p = fit.apply(ev.p_pos())
    m = compute(ev.labels(), p, ev.vocab, threshold)
    right.caption(f"Fitted on the set shown here (so this is optimistic; fit it on a separate calibration set "
                  f"before trusting it): bias {fit.bias:+.3f}, temperature {fit.temperature:.3f}. At {threshold:.2f}: "
                  + ", ".join(f"{k} {v:.0%}" for k, v in m.per_class_accuracy.items() if v is not None))
    right.plotly_chart(figures.confusion_figure(m.confusion, m.labels), key=f"{key}_recal_cm",
                       config={"displayModeBar": False})


def _edits_chosen(key: str) -> tuple[tuple[str, tuple[float, ...]], ...]:
    picked = st.multiselect("Edits (applied to both classes)", list(analysis.EDITS), default=list(analysis.EDITS),
                            key=f"{key}_rob_edits")
    out = []
    for name in picked:
        text = st.text_input(f"{name} values", ",".join(f"{v:g}" for v in analysis.DEFAULT_EDITS[name]),
                             key=f"{key}_rob_{name}")
        try:
            out.append(analysis.parse_edit(f"{name}={text}"))
        except ValueError as err:
            st.error(str(err))
    return tuple(out)


def robustness(runs: list[tuple[str, Model, Evaluation]], source: str, key: str) -> None:
    """Robustness curves of one or more rounds on one set, overlaid; computed on a button press (stored)."""
    with st.expander("Choose edits and values", expanded=False):
        edits = _edits_chosen(key)
    go_ = st.button("Run the robustness curves (stored results are reused)", key=f"{key}_rob_run", disabled=not edits)
    results = {}
    for i, (name, mdl, ev) in enumerate(runs):
        try:
            if go_:
                with mode.queued(f"The robustness curves of {name}", f"{key}_rob{i}") as guard, \
                        progress_bar(f"Edited images · {name}") as progress:
                    results[name] = state.robustness(mdl, ev, source, edits, guard(progress), run=True)
            else:
                results[name] = state.robustness(mdl, ev, source, edits)
        except (ValueError, FacefakeError) as err:
            st.error(mode.say(err))
            return
    results = {k: v for k, v in results.items() if v is not None}
    if not results:
        st.caption("Press the button to compute the curves. Each edited image is decoded once and batched.")
        return
    ev = runs[0][2]
    metric = st.radio("Show", ["AUC", f"{ev.positive} accuracy", f"{_negative(ev)} accuracy",
                               f"mean P({ev.positive}) of {ev.positive}s", f"mean P({ev.positive}) of "
                               f"{_negative(ev)}s"], horizontal=True, key=f"{key}_rob_metric")
    spec = {"AUC": ("auc", None), f"{ev.positive} accuracy": ("accuracy", ev.positive),
            f"{_negative(ev)} accuracy": ("accuracy", _negative(ev)),
            f"mean P({ev.positive}) of {ev.positive}s": ("mean_p_fake", ev.positive),
            f"mean P({ev.positive}) of {_negative(ev)}s": ("mean_p_fake", _negative(ev))}[metric]
    identity = {e: VARIANTS[v].identity for e, v in analysis.EDITS.items()}
    st.plotly_chart(figures.robustness_figure(results, identity, *spec), key=f"{key}_rob_fig")
    for name, res in results.items():
        for err in res["errors"]:
            st.caption(f"{name}: {mode.say(err['error'])}")


def audit(ev: Evaluation, source: str, key: str) -> None:
    """The shortcut audit: header facts per class and the AUC of a classifier that sees only them."""
    if not st.toggle("Run the shortcut audit (reads every file's header)", key=f"{key}_audit"):
        return
    out = state.audit(ev, ev.model_sha, source, len(ev.rows))
    auc = out["metadata_auc"]
    st.metric("metadata_auc", "n/a" if auc is None else f"{auc:.3f}",
              help="Cross-validated AUC of a random forest on format, size, bytes, JPEG quality and subsampling only")
    if out["warning"]:
        st.warning(out["warning"])
    lines = []
    for label, s in out["classes"].items():
        q = s["jpeg_quality"]
        lines.append({"class": label, "n": s["n"], "formats": ", ".join(f"{k} {v}" for k, v in s["format"].items()),
                      "median size": f"{s['width']['median']:.0f} × {s['height']['median']:.0f}",
                      "median KiB": round(s["file_bytes"]["median"] / 1024, 1),
                      "median JPEG quality": None if q is None else q["median"],
                      "subsampling": ", ".join(f"{k} {v}" for k, v in s["subsampling"].items())})
    st.dataframe(lines, hide_index=True)


def method_faithfulness(model: Model, ev: Evaluation, threshold: float, target: str | None, key: str) -> None:
    """ROAD of each CAM method on the set's most wrong errors, beside the random and Sobel yardsticks, computed on
    a button press; the maps explain ``target`` (``None``: each image's predicted class)."""
    c1, c2 = st.columns([1, 3])
    n = int(c1.number_input("Images (the most wrong errors)", 1, max(1, min(64, len(ev.rows))),
                            min(8, len(ev.rows)), key=f"{key}_mf_n"))
    methods = tuple(c2.multiselect("CAM methods", list(CAM_METHODS), default=list(analysis.FAITHFULNESS_METHODS),
                                   key=f"{key}_mf_methods", help="AblationCAM is left out by default: it is slow."))
    rows = analysis.errors_sample(ev, n, threshold)
    what = target or "each image's predicted class"
    go_ = st.button(f"Score the CAM methods on {len(rows)} images (about {8 * (len(methods) + 2) + 1} forward passes "
                    "each)", key=f"{key}_mf_run", disabled=not methods)
    try:
        if go_:
            with mode.queued("Scoring the CAM methods", f"{key}_mf") as guard, \
                    progress_bar("Scoring the CAM methods") as progress:
                table = state.method_table(model, rows, methods, target, guard(progress), run=True)
        else:
            table = state.method_table(model, rows, methods, target)
    except (ValueError, FacefakeError) as err:
        st.error(mode.say(err))
        return
    if table is None:
        st.caption(f"The maps explain {what} (the heatmap choice above). Press the button to score them.")
        return
    st.markdown(f"Most faithful for this model here: **{table.best or 'n/a'}** (maps of {table.target}).")
    st.dataframe(table.summary, hide_index=True, key=f"{key}_mf_table", column_config={
        "mean": NUMBER, "median": NUMBER, "beats_random": PERCENT, "beats_sobel": PERCENT})
    st.caption("ROADCombined (pytorch-grad-cam, percentiles 20–80) in logit units of the explained class: how much "
               "more removing the least relevant pixels keeps the logit than removing the most relevant. Higher is "
               "more faithful; a method earns trust when it beats the random and Sobel yardsticks on most images.")
    for path, err in table.skipped:
        st.caption(mode.say(err))
