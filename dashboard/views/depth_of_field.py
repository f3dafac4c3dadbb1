"""Depth of field: does a narrow depth of field make the model call fakes "real"?

Reads the hard set last evaluated on the Hard set page (``?set=`` or this session's last set): error rate and
mean P(fake) against depth-of-field bins, the narrow-DOF slice table, where the stored CAMs fall for errors and
correct predictions, and what blurring or sharpening the background does to whole slices. A scatter of P(fake)
against the sharpness ratio opens one image (``?image=`` holds its path; in public mode its sha256) for a
counterfactual sweep with heatmaps and its spectra against the class means. The figures are in
``dashboard/dof_figures.py``. In public mode the set-level edits and spectra wait in the work queue.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from facefake_core import CONFIG, FacefakeError, Model
from facefake_core.analysis import (
    MAX_PER_SLICE, SUMMARY_KINDS, cam_bokeh_groups, default_slices, error_by_dof, focus_frame, row_by_path,
    slice_name, slice_table,
)
from facefake_core.evaluation import Evaluation, Row, find_row, predict_at
from facefake_core.imaging import NARROW_DOF_THRESHOLD, VARIANTS, cam_overlay, focus_overlay

from dashboard import dof_figures, mode, state
from dashboard.pickers import evaluated_set, image_link, is_sha, set_link
from dashboard.widgets import progress_bar, require_model

KEY = "dof"
IMAGE_KEY = f"{KEY}_image"
PERCENT = st.column_config.NumberColumn(format="percent")


# -- sections -----------------------------------------------------------------------------------------------
def _bins(ev: Evaluation, threshold: float) -> None:
    n = st.number_input("Quantile bins of the depth-of-field score", 1, 10, 4, key=f"{KEY}_bins")
    table = error_by_dof(ev, threshold, int(n))
    left, right = st.columns(2)
    left.plotly_chart(dof_figures.bins_figure(table, ev.vocab, "error_rate", f"Error rate at {threshold:.2f}"),
                      key=f"{KEY}_err")
    right.plotly_chart(dof_figures.bins_figure(table, ev.vocab, "mean_p_fake", f"Mean P({ev.positive})"),
                       key=f"{KEY}_pbins")
    st.caption(f"Scores at or above {NARROW_DOF_THRESHOLD:.2f} count as a narrow depth of field (the median "
               "background block is defocused).")


def _slices(ev: Evaluation, threshold: float) -> None:
    table = slice_table(ev, threshold).drop(columns=["narrow_dof"])
    st.dataframe(table, hide_index=True, column_config={"accuracy": PERCENT,
                                                        "mean_p_fake": st.column_config.NumberColumn(
                                                            f"mean P({ev.positive})", format="%.3f")})


def _bokeh(ev: Evaluation, threshold: float) -> None:
    groups = cam_bokeh_groups(ev, threshold)
    if not any(g["n"] for g in groups.values()):
        st.info("This set was evaluated without CAMs, so there is nothing to place.")
        return
    left, right = st.columns(2)
    left.plotly_chart(dof_figures.bokeh_figure(groups, "bokeh_share", "CAM mass on defocused blocks"),
                      key=f"{KEY}_bokeh")
    right.plotly_chart(dof_figures.bokeh_figure(groups, "face_share", "CAM mass on the face box"), key=f"{KEY}_face")
    fmt = lambda v: "n/a" if v is None else f"{v:.1%}"
    st.caption(f"Mean share on defocused blocks: errors {fmt(groups['error']['mean_bokeh_share'])}, correct "
               f"{fmt(groups['correct']['mean_bokeh_share'])}. On the face box: errors "
               f"{fmt(groups['error']['mean_face_share'])}, correct {fmt(groups['correct']['mean_face_share'])}.")


def _counterfactual_summary(model: Model, ev: Evaluation) -> None:
    names = [slice_name(c, n) for c in ev.vocab for n in (False, True)]
    c1, c2, c3 = st.columns([2, 2, 1])
    slices = tuple(c1.multiselect("Slices", names, default=list(default_slices(ev)), key=f"{KEY}_cf_slices"))
    kinds = tuple(c2.multiselect("Edits", list(VARIANTS), default=list(SUMMARY_KINDS), key=f"{KEY}_cf_kinds",
                                 format_func=lambda k: VARIANTS[k].label))
    cap = int(c3.number_input("Images per slice", 1, 500, MAX_PER_SLICE, key=f"{KEY}_cf_cap"))
    if not slices or not kinds:
        st.info("Choose at least one slice and one edit.")
        return
    summary = state.dof_counterfactuals(model, ev, slices, kinds, cap, run=False)
    slot = st.empty()  # the button goes once its result is there
    if summary is None and slot.button("Run the edits through the model", type="primary", key=f"{KEY}_cf_run"):
        slot.empty()
        try:
            with mode.queued("The edits of the slices", f"{KEY}_cf") as guard, \
                    progress_bar("Editing the slices") as progress:
                summary = state.dof_counterfactuals(model, ev, slices, kinds, cap, guard(progress))
        except (FacefakeError, ValueError) as err:
            st.error(mode.say(err))
            return
    if summary is None:
        st.caption("Each image of each slice is edited at every value of each sweep and run through the model "
                   "(no CAM); the result is kept for this set.")
        return
    if summary.table.empty:
        st.info("The chosen slices hold no images.")
        return
    st.markdown("\n".join(f"- {s}" for s in summary.sentences()))
    st.plotly_chart(dof_figures.summary_figure(summary, ev.positive), key=f"{KEY}_cf_fig")
    with st.expander("Table"):
        st.dataframe(summary.table, hide_index=True)
    for path, reason in summary.skipped:
        st.warning(f"{mode.name(path, [ev.source])}: {reason}")


def _linked_path(ev: Evaluation) -> str | None:
    """The image ``?image=`` names: a row's sha256, or (locally) its path; a path in public mode opens nothing."""
    link = st.query_params.get("image")
    if not link:
        return None
    if is_sha(link):
        row = find_row(ev, link)
        return row.path if row is not None else None
    if mode.public():
        st.warning(mode.NOT_FOLLOWED)
        return None
    return link


def _write_image(ev: Evaluation, path: str | None) -> None:
    row = row_by_path(ev, path)
    if row is not None:
        st.query_params["image"] = image_link(row)


def _scatter(ev: Evaluation, threshold: float, frame, linked: str | None) -> None:
    axis = st.radio("Horizontal axis", ["sharpness_ratio", "dof_score"], horizontal=True, key=f"{KEY}_axis",
                    format_func=lambda a: {"sharpness_ratio": "sharpness ratio (face / background, log)",
                                           "dof_score": "depth-of-field score"}[a])
    st.plotly_chart(dof_figures.scatter_figure(frame, axis, linked, ev.positive),
                    key=f"{KEY}_scatter", on_select=lambda: _on_click(ev), selection_mode="points")


def _on_click(ev: Evaluation) -> None:
    path = dof_figures.selected_path(st.session_state.get(f"{KEY}_scatter"))
    if path:
        _write_image(ev, path)
        st.session_state[IMAGE_KEY] = path


def _on_choose(ev: Evaluation) -> None:
    _write_image(ev, st.session_state.get(IMAGE_KEY))


def _choose_image(ev: Evaluation, frame, link: str | None) -> Row | None:
    paths = frame["path"].tolist()
    if link in paths and st.session_state.get(IMAGE_KEY) != link:
        st.session_state[IMAGE_KEY] = link
    labels = dict(zip(frame["path"], frame["label"]))
    path = st.selectbox("Image (or click a point above)", paths, index=None, key=IMAGE_KEY, on_change=_on_choose,
                        args=(ev,),
                        format_func=lambda p: f"{Path(p).name} · true {labels[p]}", placeholder="Choose an image")
    return row_by_path(ev, path)


def _detail(model: Model, ev: Evaluation, row: Row, threshold: float) -> None:
    f, pos = row.focus, ev.positive
    c1, c2, c3, c4 = st.columns(4)
    try:
        pixels = state.photo_from_path(row.path, Path(row.path).stat().st_mtime_ns).pixels
        c1.image(pixels, caption=Path(row.path).name, width="stretch")
        c2.image(state.stored_overlay(model, ev.model_sha, row, row.image_sha, row.path, CONFIG.colormap,
                                      CONFIG.overlay_alpha, None), caption="Stored Grad-CAM", width="stretch")
        c3.image(focus_overlay(pixels, state.focus_measures(pixels, row.image_sha)), width="stretch",
                 caption="What the verdict saw: defocused blocks blue, the in-focus subject it judges them against "
                         "green, the face the cascade found white")
    except (FacefakeError, OSError, ValueError) as err:
        c1.error(mode.say(str(err).splitlines()[0]))
    facts = {"true class": row.label, f"P({pos})": f"{row.probs[pos]:.4f}",
             f"decision at {threshold:.2f}": predict_at([row.probs[pos]], ev.vocab, threshold)[0],
             "depth-of-field score": f"{f.dof_score:.2f}", "narrow DOF": "yes" if f.narrow_dof else "no",
             "sharpness ratio": f"{f.sharpness_ratio:.3g}", "defocused share": f"{f.defocus_fraction:.1%}",
             "face found by": f.face_source or "—"}
    if row.bokeh_share is not None and row.face_share is not None:
        facts["CAM on defocused blocks"] = f"{row.bokeh_share:.1%}"
        facts["CAM on the face box"] = f"{row.face_share:.1%}"
    c4.markdown("\n".join(f"- **{k}:** {v}" for k, v in facts.items()))
    if c4.button("Open in Inspect", key=f"{KEY}_to_inspect"):
        st.switch_page("views/inspect.py", query_params={"image": image_link(row)})


def _explorer(model: Model, ev: Evaluation, row: Row) -> None:
    c1, c2 = st.columns([2, 1])
    kind = c1.selectbox("Edit", list(VARIANTS), key=f"{KEY}_kind", format_func=lambda k: VARIANTS[k].label)
    shared = c2.toggle("One colour scale for all variants", True, key=f"{KEY}_shared")
    try:
        photo = state.photo_from_path(row.path, Path(row.path).stat().st_mtime_ns)
        points = state.dof_sweep(model, ev.model_sha, photo, photo.sha256, kind)
    except (FacefakeError, OSError, ValueError) as err:
        st.error(mode.say(str(err).splitlines()[0]))
        return
    st.plotly_chart(dof_figures.sweep_figure(points, ev.positive, VARIANTS[kind].label), key=f"{KEY}_sweep")
    vmax = max(float(p.explanation.raw_cam.max()) for p in points) if shared else None
    for col, p in zip(st.columns(len(points)), points):
        e = p.explanation
        col.image(cam_overlay(e.photo, e.raw_cam, e.crop_box, vmax=vmax), width="stretch",
                  caption=f"{p.value:g} · P({ev.positive}) {e.probs[ev.positive]:.3f}")


def _spectra(ev: Evaluation, row: Row) -> None:
    cap = int(st.number_input("Images per class for the means", 1, 500, MAX_PER_SLICE, key=f"{KEY}_sp_cap"))
    stats = state.dof_class_spectra(ev, cap, run=False)
    slot = st.empty()
    if stats is None and slot.button("Compute the class means", key=f"{KEY}_sp_run"):
        slot.empty()
        try:
            with mode.queued("The spectra of the set", f"{KEY}_sp") as guard, \
                    progress_bar("Spectra of the set") as progress:
                stats = state.dof_class_spectra(ev, cap, guard(progress))
        except (FacefakeError, ValueError) as err:
            st.error(mode.say(err))
            return
    try:
        pixels = state.photo_from_path(row.path, Path(row.path).stat().st_mtime_ns).pixels
        mine = state.dof_image_spectra(pixels, row.image_sha, row.focus.face_box if row.focus else None)
    except (FacefakeError, OSError, ValueError) as err:
        st.error(mode.say(str(err).splitlines()[0]))
        return
    if stats is None:
        st.caption("Press the button to draw the per-class means behind this image's curves.")
    regions = ("image", "face", "background")
    for region, tab in zip(regions, st.tabs([r.capitalize() for r in regions])):
        if region not in mine and not stats:
            tab.info(f"No {region} region: no face box was found in this image.")
            continue
        tab.plotly_chart(dof_figures.spectrum_figure(region, stats or {}, mine.get(region), Path(row.path).name),
                         key=f"{KEY}_spec_{region}")


def main() -> None:
    st.title("Depth of field")
    model = require_model()
    if model is None:
        return
    source, ev = evaluated_set(model)
    if ev is None:
        st.info("No hard set has been evaluated with this model yet: evaluate one on the Hard set page first.")
        link = set_link(source) if source else ""
        st.page_link("views/hard_set.py", label="Open the Hard set page", icon=":material/grid_view:",
                     query_params={"set": link} if link else None)
        return
    st.query_params["set"] = set_link(source)
    threshold = st.slider(f"Threshold on P({ev.positive})", 0.0, 1.0, CONFIG.threshold, 0.01, key=f"{KEY}_threshold")
    frame = focus_frame(ev, threshold)
    if frame.empty:
        st.info("No image of this set has focus measures; evaluate it again with them (only the measures run: "
                "the model's results are reused).")
        return
    narrow = frame.groupby("label")["narrow_dof"].agg(["sum", "size"])
    missing = len(ev.rows) - len(frame)
    st.caption(f"{set_link(source) if mode.public() else source} · {len(frame)} images with focus measures"
               + (f" ({missing} without: evaluate the set again to add them)" if missing else "")
               + " · narrow depth of field: "
               + ", ".join(f"{int(s)} of {n} {label}" for label, (s, n) in narrow.iterrows()))
    tabs = st.tabs(["Errors by depth of field", "Slices", "CAM in bokeh", "Background edits on the set"])
    with tabs[0]:
        _bins(ev, threshold)
    with tabs[1]:
        _slices(ev, threshold)
    with tabs[2]:
        _bokeh(ev, threshold)
    with tabs[3]:
        _counterfactual_summary(model, ev)
    st.subheader(f"P({ev.positive}) against sharpness")
    linked = _linked_path(ev)
    _scatter(ev, threshold, frame, linked)
    row = _choose_image(ev, frame, linked)
    if row is None:
        return
    st.subheader(f"One image · {Path(row.path).name}")
    _detail(model, ev, row, threshold)
    explorer, spectrum = st.tabs(["Counterfactual explorer", "Spectrum"])
    with explorer:
        _explorer(model, ev, row)
    with spectrum:
        _spectra(ev, row)


main()
