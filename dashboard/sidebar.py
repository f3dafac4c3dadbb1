"""The sidebar's model picker and card, and the one way pages load a model: through the shared registry, with a
progress bar, and with a clearly worded confirmation before trusted (unsafe) loading.

In public mode the picker offers the default, the demo rounds and the operator's models (``FACEFAKE_MODELS``), plus
an upload only where ``FACEFAKE_MODEL_UPLOADS=1``; nothing is loaded by a typed path or hub name, trusted loading does
not exist, and a demo that is not built is not built for a visitor."""

from __future__ import annotations

import streamlit as st

from facefake_core import FacefakeError, Model, UnsafeModelError

from . import inputs, mode, state
from .widgets import MODEL_KEY, SRC_KEY, WHY_KEY, model_card, progress_bar

CHOICES = ("Default", "Demo round 0", "Demo round 1", "Hugging Face", "Local path", "Upload .pkl")
PUBLIC_CHOICES = ("Default", "Demo round 0", "Demo round 1")
UPLOAD = "Upload .pkl"
TRUSTED_KEY = "trusted_sources"  # session state: sources this session agreed to load without the safe loader
DEMO_OK_KEY = "demo_consent"  # session state: demo sources this session agreed to build
TRUST_WARNING = ("Trusted (unsafe) loading runs any code inside the file, with your permissions. Continue only "
                 "if you trust where this file came from.")


def _chosen_source() -> tuple[str | None, str]:
    """``(source, why)`` from the picker; ``source`` is ``None`` until the picker names something usable."""
    sb = st.sidebar
    s = mode.settings()
    listed = {f"{name} (this server)": src for name, src in s.models.items()}
    choices = CHOICES if not s.public else (*PUBLIC_CHOICES, *listed, *([UPLOAD] if s.model_uploads else []))
    kind = sb.selectbox("Model", choices, key="model_kind")
    if kind in listed:
        return listed[kind], "listed by this server"
    if kind == "Default":
        src, why = state.resolved_default()
        return src, "the default model, " + ("named by $FACEFAKE_MODEL" if why == "FACEFAKE_MODEL" else why)
    if kind.startswith("Demo round"):
        return f"demo:round{kind[-1]}", "offline demo model"
    if kind == "Hugging Face":
        text = sb.text_input("Repo / file @ revision", key="model_hf",
                             placeholder="OWNER/REPO/FILE.pkl@main")
        if not text.strip():
            return None, ""
        try:
            return inputs.hub_source(text), "Hugging Face hub"
        except ValueError as err:
            sb.error(str(err))
            return None, ""
    if kind == "Local path":
        text = sb.text_input("Path to a .pkl or converted model folder", key="model_path").strip()
        if not text:
            return None, ""
        try:
            mode.typed_path(text)  # held to FACEFAKE_ROOTS when set
            return text, "local file"
        except FacefakeError as err:
            sb.error(mode.say(err))
            return None, ""
    upload = sb.file_uploader("Learner .pkl (loaded with the safe loader)", type=["pkl"], key="model_upload")
    if upload is None:
        return None, ""
    try:
        path = inputs.save_model_upload(upload.name, upload.getvalue(), mode.upload_root() / "models", mode.reserve)
        return str(path), f"uploaded {upload.name}"
    except (ValueError, FacefakeError) as err:
        sb.error(mode.say(err))
        return None, ""


def load(src: str, where, key: str) -> Model | None:
    """The model ``src``, loading it if needed; on failure says why in ``where`` and returns ``None``.

    A demo source that is not built yet is only built after the user agrees (6-7 minutes on 2 idle cores). A
    pickle the safe loader refuses gets a warning and a button that retries with trusted loading for this session.
    """
    public = mode.public()
    trusted = not public and src in st.session_state.setdefault(TRUSTED_KEY, set())
    model = state.loaded_model(src, trusted)
    if model is not None:
        return model
    consented = src in st.session_state.setdefault(DEMO_OK_KEY, set())
    if src.startswith("demo:") and public and state.demo_paths() is None:
        where.info(f"`{src}` comes from the offline demo, which is not built on this server.")
        return None
    if src.startswith("demo:") and not consented and state.demo_paths() is None:
        where.info(f"`{src}` comes from the offline demo, which is built on first use (6-7 minutes on 2 idle "
                   "cores, longer on a busy machine).")
        if where.button(f"Load {src}", key=f"{key}_demo_ok"):
            st.session_state[DEMO_OK_KEY].add(src)
        else:
            return None
    try:
        with progress_bar(f"Loading {inputs.round_name(src)}", where) as progress:
            return state.model(src, trusted, progress)
    except UnsafeModelError as err:
        where.warning(mode.say(err))
        if public:  # no way round the safe loader for a visitor
            return None
        where.markdown(TRUST_WARNING)
        if where.button("Load with trusted (unsafe) loading", key=f"{key}_trust"):
            st.session_state[TRUSTED_KEY].add(src)
            st.rerun()
    except FacefakeError as err:
        where.error(mode.say(err))
    return None


def model_name(src: str) -> str:
    """A model source as the pages show it: itself locally; in public mode the operator's name for a listed model,
    else a short name that holds no server folder (``round0``, ``learner.pkl``)."""
    if not mode.public():
        return src
    names = {v: k for k, v in mode.settings().models.items()}
    return names.get(src) or (src if src.startswith(("demo:", "hf://")) else inputs.round_name(src))


def load_all(sources: list[str], where, key: str) -> list[tuple[str, Model]]:
    """``(short name, model)`` for each source that loads; the others say why in ``where``."""
    loaded = [(name, load(src, where, f"{key}_{i}"))
              for i, (src, name) in enumerate(zip(sources, inputs.round_names(sources)))]
    return [(name, mdl) for name, mdl in loaded if mdl is not None]


def render() -> Model | None:
    """Draw the picker and the card; put the loaded model (or ``None``) in session state for the pages."""
    sb = st.sidebar
    sb.header("Model")
    st.session_state[MODEL_KEY] = None
    src, why = _chosen_source()
    st.session_state[SRC_KEY], st.session_state[WHY_KEY] = src, why
    if src is None:
        sb.info("Name a model above.")
        return None
    model = load(src, sb, "sidebar")
    st.session_state[MODEL_KEY] = model
    if model is not None:
        with sb.expander(f"Model card · {model.info.arch}", expanded=False):
            model_card(model.info, source=model_name(model.info.source))
    return model
