"""Hard set: evaluate a labelled set, then the slice table (click a line to filter the page to that slice), the
confusion matrix (click a cell to open its images), the seed's per-class table, ROC and PR curves, calibration and
the threshold-shift diagnosis, the errors most wrong first, robustness curves, the shortcut audit, one image in
detail, and triage.

Query parameters: ``set`` (the folder or manifest; in public mode the set's name), ``slice`` (``column=value``),
``cell`` (``true,pred``) and ``error`` (an image's sha256).

In public mode the evaluation and the robustness curves wait in the work queue, files are named within their set,
triage marks are this visitor's own, and the "model wrong" images come as a zip instead of being copied into a
server folder.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import streamlit as st

from facefake_core import CONFIG, FacefakeError, Model
from facefake_core.evaluation import (
    MARKS, Evaluation, Metrics, Row, copy_model_wrong, curves, errors_by_loss, find_row, marks_csv, predict_at,
    rows_in_cell, seed_table, zip_model_wrong,
)

from dashboard import evidence, figures, inputs, mode, state
from dashboard.figures import cell_from_selection
from dashboard.pickers import HARDSET_KEY, hardset_picker, image_link, set_link, write_link
from dashboard.widgets import engine_choice, map_caption, map_class, progress_bar, require_model

KEY = "hs"
NO_MARK = "no mark"
PERCENT = st.column_config.NumberColumn(format="percent")


def _cell(labels: tuple[str, ...]) -> tuple[str, str] | None:
    parts = (st.query_params.get("cell") or "").split(",")
    return (parts[0], parts[1]) if len(parts) == 2 and all(p in labels for p in parts) else None


def _set_cell(cell: tuple[str, str] | None) -> None:
    if cell:
        st.query_params["cell"] = ",".join(cell)


def _open(image_sha: str) -> None:
    st.query_params["error"] = image_sha


def _close() -> None:
    st.query_params.pop("error", None)


def _matrix(ev: Evaluation, m: Metrics, name: str) -> None:
    labels = m.labels
    st.subheader("Confusion matrix")
    st.caption("Click a square (or a button below it) to open the images in that cell.")
    st.plotly_chart(figures.confusion_figure(m.confusion, labels, _cell(labels)), key=f"{KEY}_cm",
                    on_select=lambda: _set_cell(cell_from_selection(st.session_state.get(f"{KEY}_cm"), labels)),
                    selection_mode="points", config={"displayModeBar": False}, width="content")
    for i, true in enumerate(labels):
        cols = st.columns(len(labels))
        for j, pred in enumerate(labels):
            cols[j].button(f"true {true} → {pred} ({int(m.confusion[i, j])})", key=f"{KEY}_cell_{true}_{pred}",
                           on_click=_set_cell, args=((true, pred),), width="stretch")
    st.dataframe(seed_table([(name, ev)], m.threshold, with_auc=False), hide_index=True,
                 column_config={c: PERCENT for c in m.seed_table()})


def _curves(ev: Evaluation, m: Metrics) -> None:
    st.subheader("ROC and precision-recall")
    c1, c2, c3, c4 = st.columns(4)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    c1.metric("AUC", fmt(m.auc))
    c2.metric("AP", fmt(m.ap))
    c3.metric("EER", fmt(m.eer))
    c4.metric(f"Accuracy at {m.threshold:.2f}", "n/a" if m.accuracy is None else f"{m.accuracy:.1%}")
    if m.auc is None:
        st.info("The curves need images of both classes.")
        return
    c = curves(ev.labels(), ev.p_pos(), ev.vocab)
    roc, pr = st.tabs(["ROC", "Precision-recall"])
    roc.plotly_chart(figures.roc_figure(c["fpr"], c["tpr"], m.auc, m.eer), key=f"{KEY}_roc")
    pr.plotly_chart(figures.pr_figure(c["recall"], c["precision"], m.ap, ev.positive), key=f"{KEY}_pr")


def _gallery(model: Model, ev: Evaluation, rows: list[Row], key: str, marks: dict, cls: str | None = None) -> None:
    """Thumbnails with their stored heatmaps of class ``cls`` (``None``: each image's predicted class; no model run),
    a few per row, each with a Details button."""
    if not rows:
        st.caption("No images here.")
        return
    shown = rows[: int(st.number_input("Show", 1, len(rows), min(8, len(rows)), step=4, key=f"{key}_n"))]
    cols = st.columns(4)
    pos = ev.positive
    for i, row in enumerate(shown):
        col = cols[i % 4]
        mark = marks.get(row.image_sha, {}).get("mark")
        try:
            thumb = state.stored_overlay(model, ev.model_sha, row, row.image_sha, row.path, CONFIG.colormap,
                                         CONFIG.overlay_alpha, 224, cls=cls)
        except FacefakeError as err:
            col.error(mode.say(err))
            continue
        except ValueError as err:  # no stored map of that class: say so rather than show another class's
            col.warning(mode.say(err))
            continue
        col.image(thumb, caption=f"{Path(row.path).name} · true {row.label} · P({pos}) {row.probs[pos]:.2f} · "
                                 f"loss {row.loss:.2f} · {map_caption(row.pred, cls)}" + (f" · {mark}" if mark else ""),
                  width="stretch")
        col.button("Details", key=f"{key}_open_{i}_{row.image_sha[:12]}", on_click=_open, args=(row.image_sha,))


def _save_mark(model_sha: str, row: Row, key: str) -> None:
    choice = st.session_state.get(key)
    state.store().set_mark(model_sha, row.image_sha, None if choice == NO_MARK else choice, row.path, row.label,
                           owner=mode.owner())


def _detail(model: Model, ev: Evaluation, threshold: float, marks: dict, source: str, cls: str | None = None) -> None:
    sha = st.query_params.get("error")
    row = find_row(ev, sha) if sha else None
    if row is None:
        return
    st.divider()
    st.subheader(f"Detail · {Path(row.path).name}")
    decided = predict_at([row.probs[ev.positive]], ev.vocab, threshold)[0]
    c1, c2, c3 = st.columns(3)
    try:
        pixels = state.photo_from_path(row.path, Path(row.path).stat().st_mtime_ns).pixels
        c1.image(pixels, caption="Original", width="stretch")
        c2.image(state.stored_overlay(model, ev.model_sha, row, row.image_sha, row.path, CONFIG.colormap,
                                      CONFIG.overlay_alpha, None, cls=cls),
                 caption=f"Stored Grad-CAM, {map_caption(row.pred, cls)}; the box is what the model saw",
                 width="stretch")
    except ValueError as err:  # no stored map of that class
        c2.warning(mode.say(err))
    except (FacefakeError, OSError) as err:
        c1.error(mode.say(str(err).splitlines()[0]))
    facts = {"path": mode.name(row.path, [source]), "true class": row.label, "style": row.style or "—",
             f"decision at {threshold:.2f}": decided, "arg-max class": row.pred,
             **{f"P({c})": f"{p:.4f}" for c, p in row.probs.items()}, "loss (cross-entropy)": f"{row.loss:.4f}",
             "image sha256": row.image_sha}
    c3.markdown("\n".join(f"- **{k}:** {v}" for k, v in facts.items()))
    if row.focus is not None:
        c3.json(row.focus_dict(), expanded=False)
    current = marks.get(row.image_sha, {}).get("mark", NO_MARK)
    mark_key = f"{KEY}_mark_{row.image_sha[:16]}"
    c3.radio("Triage mark", [NO_MARK, *MARKS], index=[NO_MARK, *MARKS].index(current), horizontal=True,
             key=mark_key, on_change=_save_mark, args=(ev.model_sha, row, mark_key))
    b1, b2 = c3.columns(2)
    if b1.button("Open in Inspect", key=f"{KEY}_to_inspect"):
        st.switch_page("views/inspect.py", query_params={"image": image_link(row)})
    b2.button("Close", key=f"{KEY}_close", on_click=_close)
    _neighbours(ev, row)


def _neighbours(ev: Evaluation, row: Row) -> None:
    """The image's nearest images in the model's feature space: this set and the others evaluated with the model."""
    # In public mode the store holds other visitors' images: only sets this server evaluated are searched there.
    found = state.neighbours_of(ev, row.path, CONFIG.neighbours_k, with_store=not mode.public())
    if not found:
        return
    st.markdown(f"**{len(found)} nearest images in the model's feature space** (cosine distance between stored "
                "feature vectors; this set, every other set evaluated with this model"
                + ("" if mode.public() else ", and every image stored for it, set “stored”: the CLI's sets") + ")")
    # Near-duplicates are judged by the images' perceptual hashes, as on the Map page (docs/embedding-map.md).
    bits = state.hash_bits(row.image_sha, row.path, {n.image_sha: n.path for n in found})
    near = lambda n: (bits[n.image_sha] <= CONFIG.near_duplicate_hamming if n.image_sha in bits
                      else n.distance < CONFIG.near_duplicate_distance)
    st.dataframe([{"name": Path(n.path).name, **n.to_dict(), "hash bits": bits.get(n.image_sha),
                   "near-duplicate": near(n)} for n in found], hide_index=True, key=f"{KEY}_neighbours")


def _copy_box(marks: dict, counts: Counter, where) -> None:
    """Local mode: copy the "model wrong" images into a typed folder (under FACEFAKE_ROOTS, not facefake's own)."""
    out = where.text_input("Copy the “model wrong” images into this folder (class subfolders, ready to fine-tune)",
                           key=f"{KEY}_out").strip()
    if where.button("Copy", key=f"{KEY}_copy", disabled=not (out and counts["model wrong"])):
        try:
            folder = mode.output_folder(out)
        except FacefakeError as err:
            st.error(mode.say(err))
            return
        report = copy_model_wrong(marks, folder)
        st.success(f"Copied {len(report.copied)} images into {folder}")
        for path, reason in report.skipped:
            st.warning(f"{path}: {reason}")


def _triage(model: Model, source: str) -> None:
    st.divider()
    st.subheader("Triage")
    marks = state.store().marks(model.info.sha256, owner=mode.owner())
    counts = Counter(m["mark"] for m in marks.values())
    whose = "your marks in this visit" if mode.public() else "marks of this model, kept across restarts"
    st.caption(whose[0].upper() + whose[1:] + ": " +
               (", ".join(f"{counts[k]} {k}" for k in MARKS if counts[k]) or "none yet (open an image's details)"))
    name = lambda p: mode.name(p, [source])  # noqa: E731
    c1, c2 = st.columns([1, 2])
    c1.download_button("Export the marks (CSV)", data=marks_csv(marks, name if mode.public() else None),
                       file_name="triage_marks.csv", mime="text/csv", disabled=not marks, key=f"{KEY}_export")
    if not mode.public():
        _copy_box(marks, counts, c2)
        return
    data, skipped = zip_model_wrong(marks, name) if counts["model wrong"] else (b"", ())
    c2.download_button(f"Download the “model wrong” images (zip, {counts['model wrong']} files in class folders, "
                       "ready to fine-tune)", data=data, file_name="hard_examples.zip", mime="application/zip",
                       disabled=not counts["model wrong"], key=f"{KEY}_zip")
    for path, reason in skipped:
        st.warning(f"{path}: {reason}")


def main() -> None:
    st.title("Hard set")
    model = require_model()
    if model is None:
        return
    source = hardset_picker(KEY, deep_link=True)
    if source is None:
        st.info("Choose a hard set: a folder with one subfolder per class, an uploaded folder, a CSV manifest, "
                "or the demo set.")
        return
    ev = state.evaluation(model, source)
    linked = st.query_params.get("set") == set_link(source)
    engine = engine_choice(KEY, mode.public())
    again = st.button("Evaluate" if ev is None else "Evaluate again (only new images run the model)",
                      type="primary", key=f"{KEY}_run")
    if mode.cancelled(KEY):  # and a linked set is not evaluated again by itself until Evaluate is pressed
        st.session_state[f"{KEY}_stopped"] = source
        st.info("Evaluation cancelled.")
    elif again or (ev is None and linked and st.session_state.get(f"{KEY}_stopped") != source):
        st.session_state.pop(f"{KEY}_stopped", None)
        try:
            with mode.queued("The evaluation", KEY) as guard, progress_bar("Evaluating the set") as progress:
                ev = state.run_evaluation(model, source, guard(progress), engine=engine)
        except FacefakeError as err:
            st.error(mode.say(err))
            return
    if ev is None:
        st.info("Press Evaluate. Results are stored, so opening the same set again is instant.")
        return
    write_link("set", KEY, set_link(source))
    st.session_state[HARDSET_KEY] = source
    st.caption(f"{len(ev.rows)} images · {ev.computed} run through the model, {ev.reused} read from the store · "
               f"{len(ev.errors)} unreadable" + (f" · {ev.engine} engine" if ev.engine != "local" else ""))
    if ev.errors:
        with st.expander(f"{len(ev.errors)} unreadable files"):
            st.text("\n".join(mode.say(r.error or mode.name(r.path, [source])) for r in ev.errors))
    if not ev.rows:
        st.warning("No image of this set could be read.")
        return
    threshold = st.slider(f"Threshold on P({ev.positive})", 0.0, 1.0, CONFIG.threshold, 0.01, key=f"{KEY}_threshold")
    st.subheader("Slices")
    shown = evidence.slices(ev, source, threshold, KEY)
    m = shown.metrics(threshold)
    marks = state.store().marks(model.info.sha256, owner=mode.owner())
    name = inputs.round_name(model.info.source)
    left, right = st.columns(2)
    with left:
        _matrix(shown, m, name)
    with right:
        _curves(shown, m)
    st.subheader("Calibration and the threshold")
    evidence.calibration(shown, threshold, KEY, name)
    cls = map_class(f"{KEY}_map_class", ev.vocab, ev.positive)
    cell = _cell(m.labels)
    if cell:
        rows = rows_in_cell(shown, threshold, *cell)
        st.subheader(f"True {cell[0]}, predicted {cell[1]}: {len(rows)} images, most wrong first")
        _gallery(model, shown, rows, f"{KEY}_cellg", marks, cls)
    errors = errors_by_loss(shown, threshold)
    st.subheader(f"Errors at {threshold:.2f}: {len(errors)}, most wrong first")
    _gallery(model, shown, errors, f"{KEY}_errg", marks, cls)
    _detail(model, ev, threshold, marks, source, cls)
    st.subheader("Which CAM method is most faithful?")
    evidence.method_faithfulness(model, shown, threshold, cls, KEY)
    st.subheader("Robustness over the whole set")
    evidence.robustness([(name, model, ev)], source, KEY)
    st.subheader("Shortcut audit")
    evidence.audit(ev, source, KEY)
    _triage(model, source)


main()
