"""Small layout pieces the pages share: progress bars wired to the core's callbacks, the CAM controls, the
model card, and getting the model the sidebar loaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from facefake_core import CONFIG, Model, ModelInfo
from facefake_core.imaging import COLORMAPS
from facefake_core.model import CAM_METHODS, MARGIN

MODEL_KEY = "model"  # session state: the Model the sidebar loaded for this run, or None
SRC_KEY, WHY_KEY = "model_src", "model_why"  # session state: the source the sidebar names, and why
PREDICTED = "predicted class"


def engine_choice(key: str, public: bool) -> str:
    """Where an evaluation runs: ``"local"``, or ``"ray"`` when Ray is installed and the server is not public (a
    visitor does not start Ray processes on the server). A small radio next to the Evaluate button."""
    from facefake_core.evaluation.ray_engine import available

    if public or not available():
        return "local"
    return st.radio("Engine", ["local", "ray"], horizontal=True, key=f"{key}_engine",
                    help="ray: Ray Data on this machine, or the cluster RAY_ADDRESS names; the same rows, "
                         "the same store") or "local"


@contextmanager
def progress_bar(text: str, where=None) -> Iterator:
    """A ``progress(done, total, what)`` callback drawing one ``st.progress`` bar, removed when the work ends."""
    bar = (where or st).progress(0.0, text=text)

    def report(done: int, total: int, what: str) -> None:
        frac = min(done / total, 1.0) if total else 1.0
        bar.progress(frac, text=f"{text} · {what} {done} / {total}")

    try:
        yield report
    finally:
        bar.empty()


def current_model() -> Model | None:
    return st.session_state.get(MODEL_KEY)


def require_model() -> Model | None:
    """The loaded model, or ``None`` after saying where to load one (the caller then returns)."""
    model = current_model()
    if model is None:
        st.info("No model is loaded yet. Choose one in the sidebar.")
    return model


def model_card(info: ModelInfo, where=None, source: str | None = None) -> None:
    """The model card: what the network is, what it expects, where it came from (``source``: how to name it, by
    default ``info.source``) and how it was loaded."""
    where = where or st
    w, h = info.input_size
    crop = info.resize_method + (f" ({info.pad_mode} padding)" if info.resize_method == "pad" else "")
    lines = [
        ("Architecture", info.arch), ("Classes", ", ".join(info.vocab)), ("Input size", f"{w} × {h} px"),
        ("Crop method", crop), ("CAM layer", f"{info.target_layer} (of {', '.join(info.layers)})"),
        ("Source", f"`{source or info.source}`"), ("Load method", info.load_method),
        ("Stubbed", ", ".join(f"`{s}`" for s in info.stubbed) or "nothing"), ("Device", info.device),
        ("sha256", f"`{info.sha256}`"),
    ]
    where.markdown("\n".join(f"- **{k}:** {v}" for k, v in lines))
    from dashboard import mode

    for note in info.notes:
        where.caption(mode.say(note))


@dataclass(frozen=True)
class CamSettings:
    method: str
    target: str | None
    layer: str | None
    alpha: float
    colormap: str
    shared: bool


def cam_controls(key: str, vocab: tuple[str, ...], layers: tuple[str, ...] | None, default_layer: str | None,
                 scale_label: str = "shared", default_shared: bool = False) -> CamSettings:
    """CAM method, target class, layer, opacity, colour map and colour scale, in two rows of columns.

    ``layers=None`` offers only each model's own default layer (for pages comparing different models).
    """
    c1, c2, c3 = st.columns(3)
    method = c1.selectbox("CAM method", list(CAM_METHODS), index=list(CAM_METHODS).index(CONFIG.cam_method),
                          key=f"{key}_method")
    options = [PREDICTED, *vocab] + ([MARGIN] if len(vocab) == 2 else [])
    target = c2.selectbox("Target class", options, key=f"{key}_target",
                          format_func=lambda o: "fake − real (logit margin)" if o == MARGIN else o,
                          help="The class the heatmap explains; by default the one the model predicts. The margin "
                               "explains the difference of the two logits: where the evidence for fake outweighs real.")
    if layers:
        layer = c3.selectbox("Layer", list(layers), index=list(layers).index(default_layer) if default_layer in layers
                             else len(layers) - 1, key=f"{key}_layer")
    else:
        layer = None
        c3.selectbox("Layer", ["each model's default"], key=f"{key}_layer_default", disabled=True)
    c4, c5, c6 = st.columns(3)
    alpha = c4.slider("Opacity", 0.0, 1.0, CONFIG.overlay_alpha, 0.05, key=f"{key}_alpha")
    colormap = c5.selectbox("Colour map", list(COLORMAPS), index=list(COLORMAPS).index(CONFIG.colormap),
                            key=f"{key}_cmap")
    scale = c6.radio("Colour scale", ["per image", scale_label], index=int(default_shared), horizontal=True,
                     key=f"{key}_scale",
                     help="Per image: each map spans the full colour range. Shared: one scale, so strengths compare.")
    return CamSettings(method, None if target == PREDICTED else target, layer, alpha, colormap, scale != "per image")


def map_class(key: str, vocab: tuple[str, ...], positive: str, with_predicted: bool = True, where=None) -> str | None:
    """Which class the stored heatmaps explain: a class (default: the positive one, fake: "where the model looked
    for fake evidence") or, with ``with_predicted``, each image's predicted class (returned as ``None``)."""
    options = [*vocab, *([PREDICTED] if with_predicted else [])]
    choice = (where or st).radio(
        "Heatmaps explain", options, index=options.index(positive) if positive in options else 0, horizontal=True,
        key=key, format_func=lambda o: f"{o} (where it looked for {o} evidence)" if o == positive else o,
        help="The class each stored Grad-CAM explains (predicted: each image's more probable class). For a fake "
             "called real, the real-class map only shows an absence of evidence; the fake-class map shows where the "
             "model looked for fake.")
    return None if choice == PREDICTED else choice


def map_caption(row_pred: str, cls: str | None) -> str:
    """How a stored map names the class it explains (``cls=None``: the row's arg-max class, ``row_pred``)."""
    return f"map: {cls}" if cls else f"map: {row_pred} (predicted)"
