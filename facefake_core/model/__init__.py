"""A fastai vision classifier, loaded and ready: preprocessing exactly as ``learn.predict`` does it, the network
tuned to run (folded BatchNorms, memory format), prediction and CAM from one pass, and the two file formats it
loads from (a learner pickle through :mod:`facefake_core.safeload`, or the pickle-free converted folder).

Layer 2: above :mod:`facefake_core.imaging` and :mod:`facefake_core.safeload`. What a source *string* means
(``hf://``, ``demo:``, the default) is :mod:`facefake_core.sources`.
"""

from .cam import (
    CAM_METHODS, MARGIN, CamResult, Margin, SplitModel, forward_features, forward_only, head_split, predict_and_cam,
)
from .classifier import Model, build_model
from .converted import convert, load_converted
from .loading import load_file
from .network import default_batch_size, describe_arch, fold_batchnorm, layer_names, pick_device
from .precision import PRECISIONS
from .preprocess import Preprocessing
from .results import Explanation, ModelInfo, Prediction

__all__ = [
    "CAM_METHODS", "MARGIN", "PRECISIONS", "CamResult", "Explanation", "Margin", "Model", "ModelInfo", "Prediction", "Preprocessing",
    "SplitModel",
    "build_model", "convert", "default_batch_size", "describe_arch", "fold_batchnorm", "forward_features",
    "forward_only", "head_split", "layer_names", "load_converted", "load_file", "pick_device", "predict_and_cam",
]
