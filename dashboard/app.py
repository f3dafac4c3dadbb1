"""Entry point: ``streamlit run dashboard/app.py``.

Every run draws the sidebar's model picker first (the loaded model goes into session state), then the page the
URL names. Pages are files under ``views/`` so that ``AppTest.switch_page`` reaches each of them. The page lives
in the URL path (``/inspect``); ``?page=inspect`` is accepted too and redirects there, keeping the other query
parameters (the selected image, hard set and error).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import sidebar  # noqa: E402

st.set_page_config(page_title="facefake", page_icon=":material/face:", layout="wide")

PAGES = {
    "home": st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    "inspect": st.Page("views/inspect.py", title="Inspect", icon=":material/image_search:", url_path="inspect"),
    "compare": st.Page("views/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    "hard_set": st.Page("views/hard_set.py", title="Hard set", icon=":material/grid_view:", url_path="hard_set"),
    "rounds": st.Page("views/rounds.py", title="Rounds", icon=":material/timeline:", url_path="rounds"),
    "batch": st.Page("views/batch.py", title="Batch", icon=":material/table_view:", url_path="batch"),
    "depth_of_field": st.Page("views/depth_of_field.py", title="Depth of field", icon=":material/blur_on:",
                              url_path="depth_of_field"),
    "map": st.Page("views/embedding_map.py", title="Map", icon=":material/scatter_plot:", url_path="map"),
}

page = st.navigation(list(PAGES.values()))

wanted = st.query_params.get("page")
if wanted in PAGES and PAGES[wanted].url_path != page.url_path:
    st.switch_page(PAGES[wanted], query_params={k: v for k, v in st.query_params.items() if k != "page"})

sidebar.render()
page.run()
