"""Compare: 2-4 photos under one model on one colour scale, or one photo under several models side by side."""

from __future__ import annotations

import streamlit as st

from facefake_core import Explanation, FacefakeError
from facefake_core.imaging import Photo, cam_overlay

from dashboard import mode, sidebar, state, tables
from dashboard.pickers import IMAGE_TYPES, model_sources, photo_picker
from dashboard.widgets import CamSettings, cam_controls, require_model

PHOTOS, MODELS = "Several photos, one model", "One photo, several models"
MAX_PHOTOS = 4


def _side_by_side(items: list[tuple[str, Photo, Explanation]], cam: CamSettings) -> None:
    """Heatmaps in columns; with a shared scale, 1.0 is the strongest CAM value among all of them."""
    vmax = max(float(e.raw_cam.max()) for _, _, e in items) if cam.shared else None
    for col, (title, photo, e) in zip(st.columns(len(items)), items):
        pos = max(e.probs, key=e.probs.get)
        drawn = cam_overlay(photo.pixels, e.raw_cam, e.crop_box, vmax=vmax, alpha=cam.alpha, colormap=cam.colormap)
        col.image(drawn, width="stretch",
                  caption=f"{title}: {e.label} (P({pos}) {e.probs[pos]:.2f}); CAM peak {float(e.raw_cam.max()):.3g}")
    if vmax is not None:
        st.caption(f"One colour scale for all: full colour = CAM value {vmax:.4g}.")


def _photos(model) -> None:
    ups = st.file_uploader(f"2 to {MAX_PHOTOS} photos", type=IMAGE_TYPES, accept_multiple_files=True,
                           key="cmp_uploads")
    cam = cam_controls("cmp", model.vocab, model.info.layers, model.info.target_layer, default_shared=True)
    photos = []
    for up in ups or []:
        try:
            photos.append(state.photo(up.getvalue(), up.name))
        except FacefakeError as err:
            st.error(mode.say(err))
    if len(photos) > MAX_PHOTOS:
        st.caption(f"Showing the first {MAX_PHOTOS} of {len(photos)} photos.")
        photos = photos[:MAX_PHOTOS]
    if len(photos) < 2:
        st.info(f"Upload 2 to {MAX_PHOTOS} photos to see their heatmaps on one colour scale.")
        return
    sha = model.info.sha256
    try:
        items = [(p.name, p, state.explain(model, sha, p, p.sha256, cam.method, cam.target, cam.layer)) for p in photos]
    except (FacefakeError, ValueError) as err:
        st.error(mode.say(err))
        return
    _side_by_side(items, cam)
    st.dataframe(tables.prediction_frame([tables.Result(t, e.probs) for t, _, e in items], model.vocab, thumbs=False),
                 hide_index=True)


def _models(model) -> None:
    photo = photo_picker("cmp_photo", model)
    sources = model_sources("cmp", "Models", model.info.source)
    cam = cam_controls("cmpm", model.vocab, None, None, default_shared=False)
    if photo is None or len(sources) < 2:
        st.info("Pick a photo and at least two models.")
        return
    items, vocab = [], []
    for name, mdl in sidebar.load_all(sources, st, "cmp_model"):
        try:
            items.append((name, photo, state.explain(mdl, mdl.info.sha256, photo, photo.sha256, cam.method,
                                                     cam.target, None)))
        except (FacefakeError, ValueError) as err:
            st.error(f"{name}: {mode.say(err)}")
            continue
        vocab += [v for v in mdl.vocab if v not in vocab]
    if len(items) < 2:
        return
    _side_by_side(items, cam)
    st.dataframe(tables.prediction_frame([tables.Result(t, e.probs) for t, _, e in items], vocab, thumbs=False),
                 hide_index=True)


def main() -> None:
    st.title("Compare")
    model = require_model()
    if model is None:
        return
    mode = st.radio("Compare", [PHOTOS, MODELS], horizontal=True, key="cmp_mode", label_visibility="collapsed")
    (_photos if mode == PHOTOS else _models)(model)


main()
