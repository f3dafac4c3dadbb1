"""Rounds: several models (training rounds) on one hard set: the seed's table, each round's slice table and
calibration, their robustness curves overlaid, and the images on which the rounds disagree, with each round's
stored heatmap of one class the user chooses (default: fake) side by side."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from facefake_core import CONFIG, FacefakeError
from facefake_core.evaluation import disagreements, seed_table

from dashboard import evidence, mode, sidebar, state
from dashboard.pickers import hardset_picker, model_sources
from dashboard.widgets import map_class, progress_bar, require_model

KEY = "rd"


def _evidence(loaded, named, source: str, threshold: float) -> None:
    """Per round: the slice table and calibration; then the rounds' robustness curves on one chart."""
    st.subheader("Slices and calibration, per round")
    for tab, (name, ev) in zip(st.tabs([n for n, _ in named]), named):
        with tab:
            evidence.slices(ev, source, threshold, f"{KEY}_{name}")
            evidence.calibration(ev, threshold, f"{KEY}_{name}", name)
    st.subheader("Robustness, rounds overlaid")
    models = dict(loaded)
    evidence.robustness([(name, models[name], ev) for name, ev in named], source, KEY)


def main() -> None:
    st.title("Rounds")
    model = require_model()
    if model is None:
        return
    source = hardset_picker(KEY)
    sources = model_sources(KEY, "Rounds (models)", model.info.source)
    if source is None or len(sources) < 2:
        st.info("Choose a hard set and at least two models.")
        return
    loaded = sidebar.load_all(sources, st, f"{KEY}_model")
    run = st.button("Evaluate the rounds (stored results are reused)", type="primary", key=f"{KEY}_run")
    named, missing = [], []
    if any([mode.cancelled(f"{KEY}_{i}") for i in range(len(loaded))]):
        st.info("Evaluation cancelled.")
    for i, (name, mdl) in enumerate(loaded):
        ev = state.evaluation(mdl, source)
        if ev is None and run:
            try:
                with mode.queued(f"The evaluation of {name}", f"{KEY}_{i}") as guard, \
                        progress_bar(f"Evaluating {name}") as progress:
                    ev = state.run_evaluation(mdl, source, guard(progress))
            except FacefakeError as err:
                st.error(f"{name}: {mode.say(err)}")
                return
        if ev is None:
            missing.append(name)
        else:
            named.append((name, ev))
    if missing or len(named) < 2:
        st.info("Press Evaluate to run " + (", ".join(missing) or "the rounds") + " on this set.")
        return
    models = dict(loaded)
    pos = named[0][1].positive
    threshold = st.slider(f"Threshold on P({pos})", 0.0, 1.0, CONFIG.threshold, 0.01, key=f"{KEY}_threshold")
    table = seed_table(named, threshold)
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="percent") for c in table[0] if c.endswith("Accuracy")} | {
        "AUC": st.column_config.NumberColumn(format="%.3f")})
    _evidence(loaded, named, source, threshold)
    found = disagreements(named, threshold)
    st.subheader(f"{len(found)} images on which the rounds disagree, widest gap first")
    if not found:
        return
    n = int(st.number_input("Show", 1, len(found), min(6, len(found)), key=f"{KEY}_n"))
    cls = map_class(f"{KEY}_map_class", named[0][1].vocab, pos, with_predicted=False)
    for d in found[:n]:
        st.markdown(f"**{Path(d.path).name}** · true {d.label}" + (f" · {d.style}" if d.style else ""))
        for col, (name, ev) in zip(st.columns(len(named)), named):
            row = d.rows[name]
            caption = f"{name}: {d.preds[name]} (P({pos}) {d.p_pos[name]:.2f}) · map: {cls}"
            try:
                col.image(state.stored_overlay(models[name], ev.model_sha, row, row.image_sha, row.path,
                                               CONFIG.colormap, CONFIG.overlay_alpha, 224, cls=cls),
                          caption=caption, width="stretch")
            except FacefakeError as err:
                col.error(mode.say(err))
            except ValueError as err:  # this round has no stored map of that class: say so, show no other
                col.warning(f"{name}: {mode.say(err)}")


main()
