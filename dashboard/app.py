"""Entry point: ``streamlit run dashboard/app.py``.

Every run draws the sidebar's model picker first (the loaded model goes into session state), then the page the
URL names. Pages are files under ``views/`` so that ``AppTest.switch_page`` reaches each of them. The page lives
in the URL path (``/inspect``); ``?page=inspect`` is accepted too and redirects there, keeping the other query
parameters (the selected image, hard set and error).

Public mode (``FACEFAKE_PUBLIC=1``, see ``dashboard/mode.py``) also keeps error details off the page: an
unexpected failure is logged on the server and the visitor reads one line. With ``FACEFAKE_LOGIN=1`` visitors sign
in first (Streamlit's ``st.login``, configured in ``.streamlit/secrets.toml``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from facefake_core import SettingsError  # noqa: E402

from dashboard import mode, sidebar  # noqa: E402

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

try:
    public = mode.public()
except SettingsError as err:  # the operator's FACEFAKE_* settings; nothing else can run
    st.error(str(err))
    st.stop()
if public:
    st.set_option("client.showErrorDetails", "none")
    if mode.settings().login and not st.user.is_logged_in:
        st.title("facefake")
        st.button("Sign in to continue", on_click=st.login, type="primary")
        st.stop()

if not public:
    sidebar.render()
    page.run()
else:
    try:
        sidebar.render()
        page.run()
    except Exception:  # Streamlit's own stop/rerun signals are BaseExceptions and pass
        logging.getLogger("facefake.dashboard").exception("unexpected error on %s", page.url_path or "home")
        st.error("Something went wrong on the server; it has been logged. Try again, or choose something else.")
