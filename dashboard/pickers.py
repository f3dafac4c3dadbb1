"""Choosing inputs: a photo (upload, hard-set image, synthetic demo portrait, or a path on the server) and a hard
set (typed folder, uploaded folder, CSV manifest, or the demo set).

Deep links: ``?image=`` holds a server path or ``synth:<label>:<style>:<seed>``; ``?set=`` holds a set's folder
or manifest. A link is applied once when it changes, then the widgets own the state and write it back.

Public mode takes no path: photos are uploads, images of the session's set or synthetic portraits, and sets are
uploads, the demo set or the operator's (``FACEFAKE_SETS``). Links then hold an image's sha256 (``?image=``) and a
set's name (``?set=demo``, ``?set=<listed name>``, ``?set=upload:<folder>`` for this visit's own upload); a link
that names a server path opens nothing and says why. Locally, typed paths are held to ``FACEFAKE_ROOTS`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from facefake_core import FacefakeError, Model
from facefake_core.demo import LABELS, STYLES
from facefake_core.evaluation import IMAGE_EXTS, Evaluation, Row, find_row
from facefake_core.imaging import Photo

from . import inputs, mode, state
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


def is_sha(value: str | None) -> bool:
    return bool(value) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def image_link(row: Row) -> str:
    """What ``?image=`` holds for an evaluated image: its path locally, its sha256 in public mode."""
    return row.image_sha if mode.public() else row.path


def _find_stored(model: Model, sha: str) -> tuple[str, str] | None:
    """``(set source, path)`` of an image of an evaluated set this visitor may open: this session's set, the demo
    set or one the operator lists."""
    sources = [st.session_state.get(HARDSET_KEY), *map(str, mode.settings().sets.values())]
    demo = state.demo_paths() if state.demo_available() else None
    for source in [s for s in (*sources, str(demo.hardset) if demo else None) if s]:
        ev = state.evaluation(model, source)
        row = find_row(ev, sha) if ev else None
        if row is not None:
            return source, row.path
    return None


def _link_photo(key: str, value: str, model: Model) -> None:
    parts = value.split(":")
    if len(parts) == 4 and parts[0] == "synth" and parts[1] in LABELS and parts[2] in STYLES and parts[3].isdigit():
        st.session_state.update({f"{key}_src": SYNTH, f"{key}_label": parts[1], f"{key}_style": parts[2],
                                 f"{key}_seed": int(parts[3])})
    elif not mode.public():
        st.session_state.update({f"{key}_src": PATH, f"{key}_path": value})
    elif not is_sha(value):
        st.warning(mode.NOT_FOLLOWED)
    elif (found := _find_stored(model, value)) is None:
        st.warning("This link names an image that is in no set evaluated on this server with this model; open its "
                   "set on the Hard set page first.")
    else:
        st.session_state[HARDSET_KEY] = found[0]
        st.session_state.update({f"{key}_src": FROM_SET, f"{key}_setimg": found[1]})


def set_images(model: Model) -> list[str]:
    """Paths of the images in the hard set last evaluated with this model, if any."""
    source = st.session_state.get(HARDSET_KEY)
    ev = state.evaluation(model, source) if source else None
    return ev.column("path") if ev else []


def _set_shas(model: Model) -> dict[str, str]:
    source = st.session_state.get(HARDSET_KEY)
    ev = state.evaluation(model, source) if source else None
    return dict(zip(ev.column("path"), ev.column("image_sha"))) if ev else {}


def photo_picker(key: str, model: Model, deep_link: bool = False) -> Photo | None:
    """One photo from the chosen input, or ``None`` (after a one-line message when the input is unreadable)."""
    if deep_link:
        _apply_link("image", key, lambda v: _link_photo(key, v, model))
    in_set = set_images(model)
    options = [UPLOAD, *([FROM_SET] if in_set else []), SYNTH, *([] if mode.public() else [PATH])]
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
            link = _set_shas(model).get(path) if mode.public() else path
            photo = _server_photo(path)
        elif kind == SYNTH:
            c1, c2, c3 = st.columns(3)
            label = c1.selectbox("Class", LABELS, key=f"{key}_label")
            style = c2.selectbox("Style", STYLES, key=f"{key}_style")
            seed = c3.number_input("Seed", 0, 10**6, 0, key=f"{key}_seed")
            link, photo = f"synth:{label}:{style}:{int(seed)}", state.synthetic(int(seed), label, style)
        else:
            text = st.text_input("Image path on the server", key=f"{key}_path").strip()
            if text:
                mode.typed_path(text)  # held to FACEFAKE_ROOTS when set
                link, photo = text, _server_photo(text)
    except FacefakeError as err:
        st.error(mode.say(err))
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
    """Several model sources: the sidebar's model, the demo rounds and the operator's models to tick, plus (locally)
    any typed one per line."""
    from .sidebar import model_name

    listed = list(mode.settings().models.values())
    options = list(dict.fromkeys([current, "demo:round0", "demo:round1", *listed]))
    chosen = st.multiselect(label, options, default=[current], key=f"{key}_models",
                            format_func=lambda s: f"{inputs.round_name(s)} (sidebar)" if s == current else model_name(s))
    if mode.public():
        return chosen
    more = st.text_area("More models, one source per line (.pkl path, converted folder, hf://OWNER/REPO/FILE@REV)",
                        key=f"{key}_more")
    typed = []
    for line in (line.strip() for line in more.splitlines()):
        if not line:
            continue
        try:
            if not line.startswith(("hf://", "demo:")):
                mode.typed_path(line)  # held to FACEFAKE_ROOTS when set
            typed.append(line)
        except FacefakeError as err:
            st.error(mode.say(err))
    return list(dict.fromkeys([*chosen, *typed]))


# -- hard sets ----------------------------------------------------------------------------------------------
FOLDER, UPLOAD_DIR, MANIFEST, DEMO = "Folder path", "Upload a folder", "CSV manifest", "Demo set"
LISTED = "A set on this server"
UPLOAD_LINK = "upload:"


def _demo_hardset() -> str | None:
    paths = state.demo_paths() if state.demo_available() else None
    return str(paths.hardset) if paths else None


def set_link(source: str) -> str:
    """What ``?set=`` holds for a set: its path locally; in public mode ``demo``, a listed set's name, or
    ``upload:<folder>`` for this visit's upload (empty for anything else)."""
    if not mode.public():
        return source
    if source == _demo_hardset():
        return "demo"
    names = {str(p): n for n, p in mode.settings().sets.items()}
    if source in names:
        return names[source]
    try:
        return UPLOAD_LINK + Path(source).relative_to(mode.upload_root()).as_posix()
    except ValueError:
        return ""


def set_from_link(value: str | None) -> str | None:
    """The set a ``?set=`` value names (see :func:`set_link`), or ``None``; in public mode never a typed path."""
    if not value or not mode.public():
        return value or None
    sets = mode.settings().sets
    if value in sets:
        return str(sets[value])
    if value == "demo":
        return _demo_hardset()
    if value.startswith(UPLOAD_LINK):
        try:
            folder = mode.upload_root() / inputs.safe_relpath(value[len(UPLOAD_LINK):])
        except ValueError:
            return None
        return str(folder) if folder.is_dir() else None
    return None


def _link_set(key: str, value: str) -> None:
    if not mode.public():
        st.session_state.update({f"{key}_kind": MANIFEST if value.lower().endswith(".csv") else FOLDER,
                                 f"{key}_path": value})
        return
    source = set_from_link(value)
    if source is None:
        st.warning(mode.NOT_FOLLOWED if "/" in value and not value.startswith(UPLOAD_LINK) else
                   "This link names a set that is not on this server, or the upload of another visit; upload it "
                   "again.")
    elif value == "demo":
        st.session_state[f"{key}_kind"] = DEMO
    elif value in mode.settings().sets:
        st.session_state.update({f"{key}_kind": LISTED, f"{key}_listed": value})
    else:
        st.session_state.update({f"{key}_kind": UPLOAD_DIR, f"{key}_uploaded": source})


def _typed_set(key: str, kind: str) -> str | None:
    text = st.text_input("Folder of class subfolders (e.g. real/, fake/)" if kind == FOLDER else
                         "CSV manifest with path,label[,style] columns", key=f"{key}_path").strip()
    if not text:
        return None
    try:
        p = mode.typed_path(text)
    except FacefakeError as err:
        st.error(mode.say(err))
        return None
    if kind == FOLDER and not p.is_dir():
        st.error(f"{text}: no such folder")
        return None
    if kind == MANIFEST and not (p.is_file() and p.suffix.lower() == ".csv"):
        st.error(f"{text}: no such .csv file")
        return None
    return str(p)


def _uploaded_set(key: str) -> str | None:
    files = st.file_uploader("Folder with one subfolder per class", accept_multiple_files="directory",
                             type=[*IMAGE_TYPES, "csv"], key=f"{key}_upload")
    if not files:
        return st.session_state.get(f"{key}_uploaded") if mode.public() else None
    try:
        folder = str(inputs.save_folder_upload([(f.name, f.getvalue()) for f in files], mode.upload_root() / "sets",
                                               mode.reserve))
    except (ValueError, FacefakeError) as err:
        st.error(mode.say(err))
        return None
    st.session_state[f"{key}_uploaded"] = folder
    return folder


def hardset_picker(key: str, deep_link: bool = False) -> str | None:
    """The chosen hard set as a folder or manifest path that exists, or ``None`` (with a one-line reason)."""
    if deep_link:
        _apply_link("set", key, lambda v: _link_set(key, v))
    public, sets = mode.public(), mode.settings().sets
    kinds = [UPLOAD_DIR, DEMO, *([LISTED] if sets else [])] if public else [FOLDER, UPLOAD_DIR, MANIFEST, DEMO]
    if st.session_state.get(f"{key}_kind") not in kinds:
        st.session_state.pop(f"{key}_kind", None)
    kind = st.radio("Hard set", kinds, horizontal=True, key=f"{key}_kind")
    if kind in (FOLDER, MANIFEST):
        return _typed_set(key, kind)
    if kind == UPLOAD_DIR:
        return _uploaded_set(key)
    if kind == LISTED:
        return str(sets[st.selectbox("Set", list(sets), key=f"{key}_listed")])
    if not state.demo_available():
        st.info("The demo set is not available in this build (facefake_core.demo is missing).")
        return None
    paths = state.demo_paths()
    if paths is None:
        if public:
            st.info("The demo set is not built on this server.")
            return None
        if not st.button("Build the demo set (6-7 minutes on 2 idle cores)", key=f"{key}_demo"):
            return None
        try:
            with progress_bar("Building the offline demo") as progress:
                paths = state.demo_paths(build=True, progress=progress)
        except FacefakeError as err:
            st.error(str(err))
            return None
    return str(paths.hardset)


def evaluated_set(model: Model) -> tuple[str | None, Evaluation | None]:
    """The linked set (``?set=``) if it is evaluated with this model, else this session's last set; ``(source, ev)``
    (``ev`` is ``None`` when neither is evaluated in this server)."""
    sources = [s for s in (set_from_link(st.query_params.get("set")), st.session_state.get(HARDSET_KEY)) if s]
    for source in sources:
        ev = state.evaluation(model, source)
        if ev is not None:
            return source, ev
    return (sources[0] if sources else None), None
