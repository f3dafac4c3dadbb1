"""Inspect: one photo's prediction, and its heatmap drawn on the upright photo next to the original."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from facefake_core import FacefakeError
from facefake_core.imaging import cam_overlay, focus_overlay, overlay, png_bytes
from facefake_core.imaging.shares import cam_shares

from dashboard import figures, mode, state
from dashboard.pickers import photo_picker
from dashboard.widgets import cam_controls, require_model


def main() -> None:
    st.title("Inspect")
    model = require_model()
    if model is None:
        return
    photo = photo_picker("inspect", model, deep_link=True)
    if photo is None:
        st.info("Upload a photo, or pick one, to see what the model makes of it.")
        return
    cam = cam_controls("inspect", model.vocab, model.info.layers, model.info.target_layer,
                       scale_label="shared across classes")
    sha = model.info.sha256
    try:
        e = state.explain(model, sha, photo, photo.sha256, cam.method, cam.target, cam.layer)
        vmax = None
        if cam.shared:  # one scale for every class's map, so switching the target compares strengths
            vmax = max(float(state.explain(model, sha, photo, photo.sha256, cam.method, c, cam.layer).raw_cam.max())
                       for c in model.vocab)
    except (FacefakeError, ValueError) as err:
        st.error(mode.say(err))
        return
    drawn = cam_overlay(photo.pixels, e.raw_cam, e.crop_box, vmax=vmax, alpha=cam.alpha, colormap=cam.colormap)

    left, right = st.columns(2)
    h, w = photo.pixels.shape[:2]
    left.image(photo.pixels, caption=f"Original, upright ({w} × {h} px)", width="stretch")
    right.image(drawn, caption=f"{e.method} for class “{e.target}” on {e.layer}; the box is what the model saw",
                width="stretch")
    stem = Path(photo.name).stem or "photo"
    right.download_button("Download the overlay (PNG)", data=png_bytes(drawn), file_name=f"{stem}_{e.method}.png",
                          mime="image/png", key="inspect_download")

    st.subheader(f"Prediction: {e.label}")
    st.plotly_chart(figures.prob_bar(e.probs), key="inspect_probs", config={"displayModeBar": False})
    notes = [*photo.notes, f"crop box {e.crop_box}", f"CAM peak {float(e.raw_cam.max()):.4g}"
             + (f" (shared scale {vmax:.4g})" if vmax is not None else "")]
    st.caption(" · ".join(notes))
    _depth_of_field(photo, e)
    _faithfulness(model, photo, cam.target, cam.method, cam.layer)
    _sanity(model, photo, cam.target, cam.method, cam.layer, cam.colormap)


def _depth_of_field(photo, e) -> None:
    """The photo's depth-of-field verdict, what it saw, and how much of the map shown lies on its defocused blocks
    (no model run: the measures take a few milliseconds)."""
    with st.expander("Depth of field (is the background blurred, and is the map on it?)"):
        m = state.focus_measures(photo.pixels, photo.sha256)
        shares = cam_shares(e.raw_cam, e.crop_box, m)  # as the evaluator stores them
        left, right = st.columns(2)
        left.image(focus_overlay(photo.pixels, m), width="stretch",
                   caption="What the verdict saw: defocused blocks blue, the in-focus subject it judges them "
                           "against green, the face the cascade found white")
        facts = {"narrow depth of field": "yes" if m.narrow_dof else "no", "depth-of-field score": f"{m.dof_score:.2f}",
                 "defocused share of the photo": f"{m.defocus_fraction:.1%}",
                 f"{e.method} map for “{e.target}” on defocused blocks": f"{shares['bokeh_share']:.1%}",
                 f"… on the face box ({m.face_source})": f"{shares['face_share']:.1%}"}
        right.markdown("\n".join(f"- **{k}:** {v}" for k, v in facts.items()))
        right.caption("The seed's detector called studio AI portraits with a blurred background “real”: a map with "
                      "much of its mass on the blue blocks is looking at the background, not the face.")


def _faithfulness(model, photo, target: str | None, method: str, layer: str | None) -> None:
    """ROAD score of the map shown, against a random map and a Sobel edge map (on request: ~25 forward passes)."""
    with st.expander("Can this map be trusted? (faithfulness)"):
        st.caption("ROAD removes the 20-80% most relevant pixels (MoRF) and, separately, the least relevant (LeRF), "
                   "and compares the change of the target's logit: higher means removing what the map marks matters "
                   "more. A random map and a Sobel edge map are the yardsticks. ROAD smooths what it removes, and "
                   "this detector's evidence is high-frequency: read the score with that in mind.")
        if layer not in (None, model.info.target_layer):
            st.caption(f"Scored on the model's CAM layer {model.info.target_layer}; choose it to score the map shown.")
            return
        if not st.toggle("Score the map", key="inspect_faith"):
            return
        f = state.faithfulness(model, model.info.sha256, photo, photo.sha256, target, method)["faithfulness"]
        a, b, c = st.columns(3)
        a.metric("ROAD score (logit)", f"{f['road_combined']:+.3f}")
        b.metric("random map", f"{f['baselines']['random']:+.3f}")
        c.metric("Sobel edges", f"{f['baselines']['sobel']:+.3f}")
        st.plotly_chart(figures.road_figure(f), key="inspect_road", config={"displayModeBar": False})


def _sanity(model, photo, target: str | None, method: str, layer: str | None, colormap: str) -> None:
    """Cascading randomisation of the map shown: the maps in a row, with Spearman and SSIM against the original."""
    with st.expander("Sanity check (does the map depend on the weights?)"):
        st.caption("A copy of the network is re-initialised from the head down, one more layer at a time; the loaded "
                   "model is not touched. A map that stays alike shows the image's edges, not the model's reasons.")
        if layer not in (None, model.info.target_layer):
            st.caption(f"Checked on the model's CAM layer {model.info.target_layer}; choose it to check the map shown.")
            return
        if not st.toggle("Run the sanity check", key="inspect_sanity"):
            return
        s = state.sanity(model, model.info.sha256, photo, photo.sha256, target, method)
        if s["verdict"]:
            st.warning(s["verdict"])
        steps = [("original", None), *((r["randomized"], r) for r in s["sanity"])]
        for col, (name, r) in zip(st.columns(len(steps)), steps):
            rho = "n/a" if r is None or r["spearman"] is None else f"{r['spearman']:.2f}"
            caption = name if r is None else f"{name} random · ρ {rho} · SSIM {r['ssim']:.2f}"
            col.image(overlay(s["crop"], s["maps"][name], colormap=colormap), caption=caption, width="stretch")


main()
