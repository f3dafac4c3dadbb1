"""Map: the evaluated set in the model's own feature space (the vector its head's final Linear reads), projected to
2-D. Do the errors form a cluster of their own, or sit on the border between the classes?

Reads the set last evaluated on the Hard set page (``?set=`` or this session's last set). Points are coloured by
true class, prediction, correctness, style, depth-of-field slice, ``narrow_dof`` or P(fake); hovering names the
image, and a lasso, box or click selection opens the selected images with their stored heatmaps below the map
(Plotly cannot show a picture in a hover label). Below: near-duplicate pairs (by perceptual hash) within the set and
against the other sets this server evaluated with the model (above ``AUTO_DUPLICATES`` images the search waits for a
switch), and the maps of other rounds side by side. Figures and the decoding of
a selection are in ``dashboard/map_figures.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from facefake_core import CONFIG, FacefakeError, Model
from facefake_core.analysis import EMBED_METHODS, map_frame
from facefake_core.evaluation import Evaluation

from dashboard import map_figures, mode, sidebar, state
from dashboard.pickers import evaluated_set, forget_link, model_sources, set_link
from dashboard.widgets import progress_bar, require_model

KEY = "map"
SELECTED = f"{KEY}_selected"  # session state: the gallery's image paths, filled by a selection on the map
GALLERY_MAX = 24
#: Above this many images (the set and the sets it is compared with), the near-duplicate search waits for a switch.
AUTO_DUPLICATES = 2000


def _on_select() -> None:
    st.session_state[SELECTED] = map_figures.selected_paths(st.session_state.get(f"{KEY}_chart"))


def _map_of(ev: Evaluation, method: str, seed: int, threshold: float) -> pd.DataFrame | None:
    try:
        with st.spinner(f"Projecting {len(ev.rows)} feature vectors ({method})…"):
            m = state.embedding_map(ev, method, seed)
    except FacefakeError as err:
        st.error(str(err))
        return None
    st.caption(f"{len(m.features.rows)} images · {m.features.dim}-d features · {method.upper()} "
               f"({'from the store' if m.cached else f'{m.seconds:.1f} s'})"
               + (f" · {len(m.features.missing)} without features" if m.features.missing else ""))
    return map_frame(m, ev, threshold)


def _gallery(model: Model, ev: Evaluation, frame: pd.DataFrame, source: str) -> None:
    paths = [p for p in st.session_state.get(SELECTED) or [] if p in set(frame["path"])]
    st.subheader(f"Selected: {len(paths)} image{'s' * (len(paths) != 1)}" if paths else "Selected images")
    if not paths:
        st.caption("Draw a lasso or a box on the map (or click a point) to open those images here.")
        return
    rows = {r.path: r for r in ev.rows}
    if len(paths) > GALLERY_MAX:
        st.caption(f"Showing the first {GALLERY_MAX}.")
    cols = st.columns(4)
    for i, path in enumerate(paths[:GALLERY_MAX]):
        row, col = rows[path], cols[i % 4]
        try:
            thumb = state.stored_overlay(model, ev.model_sha, row, row.image_sha, row.path, CONFIG.colormap,
                                         CONFIG.overlay_alpha, 224)
        except (FacefakeError, ValueError) as err:
            col.error(str(err))
            continue
        col.image(thumb, caption=f"{Path(path).name} · true {row.label} · P({ev.positive}) "
                                 f"{row.probs[ev.positive]:.2f}", width="stretch")
        if col.button("Details", key=f"{KEY}_open_{i}_{row.image_sha[:12]}"):
            forget_link("hs")  # the Hard set page's widget key: it reads ?set= afresh
            st.switch_page("views/hard_set.py", query_params={"set": set_link(source), "error": row.image_sha})


def _duplicates(ev: Evaluation, source: str) -> None:
    st.subheader("Near-duplicates")
    # Other sets on this server are other visitors' in public mode: only the visitor's own set is searched there.
    others = {} if mode.public() else {s: e for s, e in state.evaluated_sets(ev.model_sha) if s != source}
    chosen = [] if mode.public() else st.multiselect(
        "Also against these sets evaluated with this model (a training folder, say)", list(others),
        default=list(others), key=f"{KEY}_against")
    c1, c2 = st.columns(2)
    bits = int(c1.number_input("Near-duplicate threshold (bits of the perceptual hash)", 0, 128,
                               CONFIG.near_duplicate_hamming, step=2, key=f"{KEY}_bits",
                               help="Of 256. Measured on copies of demo portraits (docs/embedding-map.md): "
                                    "re-encoded, resized and 2-5% cropped copies lie within 36 bits of their "
                                    "original, distinct portraits 50 or more apart."))
    limit = c2.number_input("For images without a hash: cosine distance", 0.0, 2.0, CONFIG.near_duplicate_distance,
                            format="%.5f", step=0.0005, key=f"{KEY}_dup",
                            help="Decides only where an image's file can no longer be read to hash it; the scale "
                                 "of feature distances differs from model to model.")
    evs = [ev, *(others[s] for s in chosen)]
    n = sum(len(e.rows) for e in evs)
    if n > AUTO_DUPLICATES and not st.toggle(f"Search these {n} images for near-duplicates", key=f"{KEY}_dups_on"):
        st.caption(f"Hashing {n} images (once; the hashes are stored) and the quadratic pair search take a minute or "
                   "more on this machine (docs/embedding-map.md), so the search waits for this switch.")
        return
    pairs = [p for p in state.near_duplicates(evs, limit, bits) if source in (p.set_a, p.set_b)]
    st.caption(f"Pairs whose perceptual hashes (of the pixels alone, not the model) differ in at most {bits} of 256 "
               "bits: re-encoded, resized and slightly cropped copies (docs/embedding-map.md). The cosine distance of "
               "their feature vectors is shown too: a copy the model sees far from its original is a robustness "
               "problem as well. Byte-identical files pair at 0 bits.")
    if not pairs:
        st.info("No near-duplicates.")
        return
    crossing = [p for p in pairs if p.cross_set]
    if crossing:
        st.warning(f"{len(crossing)} pairs span two sets: the same image in both is leakage, and this set's numbers "
                   "are not to be trusted until they are removed.")
    lines = [{**p.to_dict(), "a": Path(p.a).name, "b": Path(p.b).name, "path_a": p.a, "path_b": p.b} for p in pairs]
    if mode.public():  # no server path reaches a visitor
        lines = [{k: v for k, v in ln.items() if k not in ("path_a", "path_b", "set_a", "set_b")} for ln in lines]
    st.dataframe(pd.DataFrame(lines), hide_index=True, key=f"{KEY}_dups")


def _rounds(model: Model, source: str, method: str, seed: int, threshold: float, colour_by: str) -> None:
    st.subheader("Rounds side by side")
    sources = model_sources(f"{KEY}_rd", "Models to map on this set", model.info.source)
    loaded = sidebar.load_all(sources, st, f"{KEY}_rd_model")
    if len(loaded) < 2:
        st.caption("Tick a second model (another round) to see both maps of this set side by side.")
        return
    named = [(name, mdl, state.evaluation(mdl, source)) for name, mdl in loaded]
    missing = [name for name, _, ev in named if ev is None]
    if missing and st.button(f"Evaluate {', '.join(missing)} on this set", key=f"{KEY}_rd_run"):
        try:
            for i, (name, mdl, ev) in enumerate(named):
                if ev is None:  # heavy work: through the server's queue in public mode, as on the other pages
                    with mode.queued(f"The evaluation of {name}", f"{KEY}_rd_{i}") as guard, \
                            progress_bar(f"Evaluating {name}") as progress:
                        named[i] = (name, mdl, state.run_evaluation(mdl, source, guard(progress)))
        except FacefakeError as err:
            st.error(mode.say(err))
            return
    for col, (name, mdl, ev) in zip(st.columns(len(named)), named):
        with col:
            if ev is None:
                st.info(f"{name}: not evaluated on this set yet.")
                continue
            frame = _map_of(ev, method, seed, threshold)
            if frame is not None:
                st.plotly_chart(map_figures.map_figure(frame, colour_by, ev.positive, name, height=460),
                                key=f"{KEY}_rd_chart_{name}")


def main() -> None:
    st.title("Map")
    model = require_model()
    if model is None:
        return
    source, ev = evaluated_set(model)
    if ev is None:
        st.info("No hard set has been evaluated with this model in this session yet." if source is None else
                f"{mode.name(source)} has not been evaluated with this model yet.")
        st.page_link("views/hard_set.py", label="Evaluate one on the Hard set page", icon=":material/grid_view:")
        return
    st.caption(f"Set: `{mode.name(source)}`. Each point is an image, placed by the model's own feature vector (the input of "
               "its final layer); images the model sees alike are close. Axes have no units.")
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    method = c1.radio("Projection", EMBED_METHODS, horizontal=True, key=f"{KEY}_method", format_func=str.upper)
    seed = int(c2.number_input("Seed", 0, 10**6, 0, key=f"{KEY}_seed"))
    colour_by = c3.selectbox("Colour by", list(map_figures.COLOUR_BY), key=f"{KEY}_colour",
                             format_func=map_figures.COLOUR_BY.get)
    threshold = c4.slider(f"Threshold on P({ev.positive})", 0.0, 1.0, CONFIG.threshold, 0.01, key=f"{KEY}_threshold")
    if method == "pca":
        state.umap_warm_up()  # while the visitor reads the PCA map, UMAP's first-call compilation happens
    frame = _map_of(ev, method, seed, threshold)
    if frame is None:
        return
    fig = map_figures.map_figure(frame, colour_by, ev.positive, selected=st.session_state.get(SELECTED) or ())
    st.plotly_chart(fig, key=f"{KEY}_chart", on_select=_on_select, selection_mode=("points", "box", "lasso"))
    _gallery(model, ev, frame, source)
    _duplicates(ev, source)
    _rounds(model, source, method, seed, threshold, colour_by)


main()
