"""facefake_core: load a fastai fake-face classifier, predict, explain with CAM, evaluate hard sets.

The layers, lowest first (imports only go down; the package never imports streamlit):

* ``config``, ``errors``, ``progress``: named defaults, the exception hierarchy, the progress callback type;
* ``imaging``: pixels only (decode, geometry, render, focus, spectra, edits); ``safeload``: safe unpickling;
  ``serving``: public mode, allowed paths, the upload area and the work queue;
* ``model``: a loaded classifier (preprocessing, network, CAM, the two file formats);
* ``evaluation``: hard sets, the runner, the store, metrics, browsing, rounds, triage; ``training``: fine-tuning;
* ``analysis``: set-level tables and sweeps; ``demo``: the offline demo's data and rounds;
* ``sources``: what a model-source string means (``hf://``, ``demo:``, a path, the default);
* ``cli``: the command line, a leaf.
"""

import warnings

# fastai's layers module scripts two activations with torch.jit.script at import, and torch 2.14 warns about that
# on every first use; nothing a user of this tool can act on, so that one message is silenced.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from .config import CONFIG, Config  # noqa: E402
from .errors import (  # noqa: E402
    AccessError,
    DemoBuildError,
    EmbeddingError,
    EngineError,
    FacefakeError,
    HardSetError,
    ImageLoadError,
    JobCancelled,
    ModelLoadError,
    QuotaError,
    SettingsError,
    UnsafeModelError,
)
from .evaluation import Evaluation, Row, Store, evaluate  # noqa: E402
from .imaging import FocusMeasures, Photo, load_photo  # noqa: E402
from .model import Explanation, Model, ModelInfo, Prediction  # noqa: E402
from .sources import default_source, load_model  # noqa: E402


__all__ = [
    "AccessError", "CONFIG", "Config", "DemoBuildError", "EmbeddingError", "EngineError", "Evaluation", "Explanation",
    "FacefakeError", "FocusMeasures", "HardSetError", "JobCancelled", "QuotaError", "SettingsError",
    "ImageLoadError", "Model", "ModelInfo", "ModelLoadError", "Photo", "Prediction", "Row", "Store",
    "UnsafeModelError", "default_source", "evaluate", "load_model", "load_photo",
]
