"""Home: what the tool is, which model is loaded and why, and where to start."""

from __future__ import annotations

import streamlit as st

from dashboard.sidebar import model_name
from dashboard.widgets import SRC_KEY, WHY_KEY, current_model, model_card


def main() -> None:
    st.title("facefake")
    st.markdown(
        "See **why** a real/fake face classifier decides what it does. The heatmaps are Grad-CAM (and related "
        "CAM methods) on a fastai ResNet: the warm regions are those that pushed the model towards the class "
        "it explains. Evaluate a *hard set* to find the images it gets wrong, look at what it looked at, and "
        "mark the ones to learn from.")
    model = current_model()
    src, why = st.session_state.get(SRC_KEY), st.session_state.get(WHY_KEY) or "chosen in the sidebar"
    st.subheader("Loaded model")
    if model is not None:
        st.markdown(f"`{model_name(model.info.source)}`: {why}.")
        model_card(model.info, source=model_name(model.info.source))
    elif src:
        st.info(f"No model is loaded yet. The sidebar names `{model_name(src)}` ({why}); load it there, or choose "
                "another.")
    else:
        st.info("No model is loaded yet: choose one in the sidebar.")
    st.subheader("Where to start")
    st.page_link("views/inspect.py", label="Inspect one photo: prediction and heatmap", icon=":material/image_search:")
    st.page_link("views/compare.py", label="Compare photos, or models, on one colour scale", icon=":material/compare:")
    st.page_link("views/hard_set.py", label="Evaluate a hard set: confusion matrix, curves, errors, triage",
                 icon=":material/grid_view:")
    st.page_link("views/rounds.py", label="Compare training rounds on one hard set", icon=":material/timeline:")
    st.page_link("views/batch.py", label="Predict a batch of photos", icon=":material/table_view:")
    st.page_link("views/depth_of_field.py", label="Does a narrow depth of field fool the model?",
                 icon=":material/blur_on:")
    st.page_link("views/embedding_map.py", label="Map a set in the model's feature space: error clusters, "
                 "neighbours, near-duplicates", icon=":material/scatter_plot:")


main()
