"""Choosing inputs: a photo (upload, hard-set image, synthetic demo portrait, or a path on the server) and a hard
set (typed folder, uploaded folder, CSV manifest, or the demo set).

Deep links: ``?image=`` holds a server path or ``synth:<label>:<style>:<seed>``; ``?set=`` holds a set's folder
or manifest. A link is applied once when it changes, then the widgets own the state and write it back.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from facefake_core import FacefakeError, Model
from facefake_core.demo import LABELS, STYLES
from facefake_core.evaluation import IMAGE_EXTS
from facefake_core.imaging import Photo

from . import inputs, state
from .widgets import progress_bar

UPLOAD, FROM_SET, SYNTH, PATH = ("Upload a photo", "Image from the hard set", "Synthetic demo portrait",
                                 "Image path on the server")
HARDSET_KEY = "hardset_source"  # session state: the last set evaluated on the Hard set page
IMAGE_TYPES = sorted(e.lstrip(".") for e in IMAGE_EXTS)


def _apply_link(param: str, key: str, apply) -> None:
    """Call ``apply(value)`` when the query parameter differs from the last value applied or written."""
    value = st.query_params.get(param)
    if value and value != st.session_state.get(f"{key}_link"):
        apply(value)
        st.session_state[f"{key}_link"] = value


def write_link(param: str, key: str, value: str | None) -> None:
    """Put ``value`` in the query parameter (or remove it) and remember it as applied, so it is not re-applied."""
    if value:
        st.query_params[param] = value
    elif param in st.query_params:
        del st.query_params[param]
    st.session_state[f"{key}_link"] = value


def forget_link(key: str) -> None:
    """Have the widgets under ``key`` apply their page's deep link again on its next run: once another page has run,
    their values are gone, but the link they last applied is still remembered as applied."""
    st.session_state.pop(f"{key}_link", None)


def _link_photo(key: str, value: str) -> None:
    parts = value.split(":")
    if len(parts) == 4 and parts[0] == "synth" and parts[1] in LABELS and parts[2] in STYLES and parts[3].isdigit():
        st.session_state.update({f"{key}_src": SYNTH, f"{key}_label": parts[1], f"{key}_style": parts[2],
                                 f"{key}_seed": int(parts[3])})
    else:
        st.session_state.update({f"{key}_src": PATH, f"{key}_path": value})


def set_images(model: Model) -> list[str]:
    """Paths of the images in the hard set last evaluated with this model, if any."""
    source = st.session_state.get(HARDSET_KEY)
    ev = state.evaluation(model, source) if source else None
    return [r.path for r in ev.rows] if ev else []


def photo_picker(key: str, model: Model, deep_link: bool = False) -> Photo | None:
    """One photo from the chosen input, or ``None`` (after a one-line message when the input is unreadable)."""
    if deep_link:
        _apply_link("image", key, lambda v: _link_photo(key, v))
    in_set = set_images(model)
    options = [UPLOAD, *([FROM_SET] if in_set else []), SYNTH, PATH]
    if st.session_state.get(f"{key}_src") not in options:
        st.session_state.pop(f"{key}_src", None)
    kind = st.radio("Photo", options, horizontal=True, key=f"{key}_src")
    link, photo = None, None
    try:
        if kind == UPLOAD:
            up = st.file_uploader("Photo", type=IMAGE_TYPES, key=f"{key}_upload", label_visibility="collapsed")
            photo = state.photo(up.getvalue(), up.name) if up is not None else None
        elif kind == FROM_SET:
            path = st.selectbox("Image", in_set, key=f"{key}_setimg", format_func=lambda p: os.path.relpath(
                p, os.path.commonpath(in_set)) if len(in_set) > 1 else os.path.basename(p))
            link, photo = path, _server_photo(path)
        elif kind == SYNTH:
            c1, c2, c3 = st.columns(3)
            label = c1.selectbox("Class", LABELS, key=f"{key}_label")
            style = c2.selectbox("Style", STYLES, key=f"{key}_style")
            seed = c3.number_input("Seed", 0, 10**6, 0, key=f"{key}_seed")
            link, photo = f"synth:{label}:{style}:{int(seed)}", state.synthetic(int(seed), label, style)
        else:
            text = st.text_input("Image path on the server", key=f"{key}_path").strip()
            if text:
                link, photo = text, _server_photo(text)
    except FacefakeError as err:
        st.error(str(err))
        photo = None
    if deep_link:
        write_link("image", key, link)
    return photo


def _server_photo(path: str) -> Photo:
    p = Path(path).expanduser()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        mtime = 0  # let the core word the error
    return state.photo_from_path(str(p), mtime)


# -- models -------------------------------------------------------------------------------------------------
def model_sources(key: str, label: str, current: str) -> list[str]:
    """Several model sources: the sidebar's model and the demo rounds to tick, plus any typed one per line."""
    options = list(dict.fromkeys([current, "demo:round0", "demo:round1"]))
    chosen = st.multiselect(label, options, default=[current], key=f"{key}_models",
                            format_func=lambda s: f"{inputs.round_name(s)} (sidebar)" if s == current else s)
    more = st.text_area("More models, one source per line (.pkl path, converted folder, hf://OWNER/REPO/FILE@REV)",
                        key=f"{key}_more")
    return list(dict.fromkeys([*chosen, *(line.strip() for line in more.splitlines() if line.strip())]))


# -- hard sets ----------------------------------------------------------------------------------------------
FOLDER, UPLOAD_DIR, MANIFEST, DEMO = "Folder path", "Upload a folder", "CSV manifest", "Demo set"


def _link_set(key: str, value: str) -> None:
    st.session_state.update({f"{key}_kind": MANIFEST if value.lower().endswith(".csv") else FOLDER,
                             f"{key}_path": value})


def hardset_picker(key: str, deep_link: bool = False) -> str | None:
    """The chosen hard set as a folder or manifest path that exists, or ``None`` (with a one-line reason)."""
    if deep_link:
        _apply_link("set", key, lambda v: _link_set(key, v))
    kind = st.radio("Hard set", [FOLDER, UPLOAD_DIR, MANIFEST, DEMO], horizontal=True, key=f"{key}_kind")
    if kind in (FOLDER, MANIFEST):
        text = st.text_input("Folder of class subfolders (e.g. real/, fake/)" if kind == FOLDER else
                             "CSV manifest with path,label[,style] columns", key=f"{key}_path").strip()
        if not text:
            return None
        p = Path(text).expanduser().resolve()
        if kind == FOLDER and not p.is_dir():
            st.error(f"{text}: no such folder")
            return None
        if kind == MANIFEST and not (p.is_file() and p.suffix.lower() == ".csv"):
            st.error(f"{text}: no such .csv file")
            return None
        return str(p)
    if kind == UPLOAD_DIR:
        files = st.file_uploader("Folder with one subfolder per class", accept_multiple_files="directory",
                                 type=[*IMAGE_TYPES, "csv"], key=f"{key}_upload")
        if not files:
            return None
        try:
            return str(inputs.save_folder_upload([(f.name, f.getvalue()) for f in files]))
        except ValueError as err:
            st.error(str(err))
            return None
    if not state.demo_available():
        st.info("The demo set is not available in this build (facefake_core.demo is missing).")
        return None
    paths = state.demo_paths()
    if paths is None:
        if not st.button("Build the demo set (6-7 minutes on 2 idle cores)", key=f"{key}_demo"):
            return None
        try:
            with progress_bar("Building the offline demo") as progress:
                paths = state.demo_paths(build=True, progress=progress)
        except FacefakeError as err:
            st.error(str(err))
            return None
    return str(paths.hardset)
