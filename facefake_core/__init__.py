"""facefake_core: load a fastai fake-face classifier, predict, explain with CAM, evaluate hard sets.

The package never imports streamlit; the dashboard is a thin layer over these functions.
"""

import warnings

# fastai's layers module scripts two activations with torch.jit.script at import, and torch 2.14 warns about that
# on every first use; nothing a user of this tool can act on, so that one message is silenced.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from .config import CONFIG, Config  # noqa: E402
from .errors import (  # noqa: E402
    DemoBuildError,
    FacefakeError,
    HardSetError,
    ImageLoadError,
    ModelLoadError,
    UnsafeModelError,
)
from .evaluation import Evaluation, evaluate  # noqa: E402
from .loading import load_model  # noqa: E402
from .model import Explanation, Model, ModelInfo, Prediction  # noqa: E402


__all__ = [
    "CONFIG", "Config", "DemoBuildError", "Evaluation", "Explanation", "FacefakeError", "HardSetError", "ImageLoadError",
    "Model", "ModelInfo", "ModelLoadError", "Prediction", "UnsafeModelError", "evaluate", "load_model",
]
