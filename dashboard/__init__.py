"""The Streamlit dashboard: pages (``views/``) that read widgets, call :mod:`facefake_core`, and lay out the result.

Only ``state.py`` caches; ``inputs.py``, ``tables.py`` and ``figures.py`` are plain functions without Streamlit.
"""
