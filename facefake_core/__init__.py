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
from .loading import load_model
from .model import Explanation, Model, ModelInfo, Prediction


def evaluate(model, source, **kwargs):
    """Evaluate a hard set; see :func:`facefake_core.evaluate.evaluate`."""
    from .evaluate import evaluate as _evaluate

    return _evaluate(model, source, **kwargs)


__all__ = [
    "CONFIG", "Config", "DemoBuildError", "Explanation", "FacefakeError", "HardSetError", "ImageLoadError",
    "Model", "ModelInfo", "ModelLoadError", "Prediction", "UnsafeModelError", "evaluate", "load_model",
]
