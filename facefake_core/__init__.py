"""facefake_core: load a fastai fake-face classifier, predict, explain with CAM, evaluate hard sets.

The package never imports streamlit; the dashboard is a thin layer over these functions.
"""

from .config import CONFIG, Config
from .errors import (
    DemoBuildError,
    FacefakeError,
    HardSetError,
    ImageLoadError,
    ModelLoadError,
    UnsafeModelError,
)
from .evaluation import Evaluation, evaluate
from .loading import load_model
from .model import Explanation, Model, ModelInfo, Prediction


__all__ = [
    "CONFIG", "Config", "DemoBuildError", "Evaluation", "Explanation", "FacefakeError", "HardSetError", "ImageLoadError",
    "Model", "ModelInfo", "ModelLoadError", "Prediction", "UnsafeModelError", "evaluate", "load_model",
]
