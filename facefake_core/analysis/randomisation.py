"""Does the heatmap depend on the model's weights? Cascading randomisation (Adebayo et al., "Sanity Checks for
Saliency Maps", 2018): re-initialise the head, then each CAM-able layer from the last down, one more at a time,
and compare each map with the original. A map that stays alike shows the image's edges, not the model's reasons.

It runs on a deep copy of the network that runs (``Model.net``); the loaded model is never touched. Maps are
compared at the input's size, as pytorch-grad-cam returns them, by Spearman rank correlation (scipy) and SSIM
(scikit-image, ``data_range=1``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from ..imaging.photo import Photo
from ..model import Margin, Model, SplitModel, predict_and_cam
from .faithfulness import input_cam

#: A randomised map this alike (Spearman) to the original is flagged: it does not depend on the weights.
SIMILAR = 0.5
SEED = 0


def _reinitialise(module: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def _steps(model: Model) -> list[tuple[str, str]]:
    """``(name, module path)`` in cascade order: the head, then the CAM layers from the last one down."""
    head = [("head", "1")] if isinstance(model.net, torch.nn.Sequential) and len(model.net) == 2 else []
    return head + [(name, path) for name, path in reversed(list(model.layers.items()))]


def sanity(model: Model, photo: Photo, target: int | str | None = None, method: str = "gradcam",
           seed: int = SEED, with_maps: bool = False) -> dict:
    """The cascading-randomisation check of one photo's CAM (on the model's CAM layer).

    Returns:
        ``{target, method, layer, sanity: [{randomized, spearman, ssim}], verdict}``: one entry per step, each
        cumulative (``"layer4"`` means the head and layer4 are random); ``spearman`` is ``None`` where a map is
        empty (constant); ``verdict`` is a sentence when a map with random weights stays alike (Spearman >=
        :data:`SIMILAR`) to the original, or when the original map is empty, else ``None``. With ``with_maps``,
        also ``maps``: ``{"original": cam, step: cam}`` (float32 ``(h, w)`` in [0, 1] at the input's size) and
        ``crop``: the input the model saw, RGB uint8 ``(h, w, 3)``.
    """
    x = model.prepare([photo])
    layer = model.info.target_layer
    spec = model.target_index(target)
    res = predict_and_cam(model.split(layer), x, method, spec)
    t = spec if isinstance(spec, Margin) else int(res.targets[0])
    size = (x.shape[-1], x.shape[-2])
    base = input_cam(res.raw_cam[0], size)
    net = copy.deepcopy(model.net)
    out, maps = [], {"original": base}
    for i, (name, path) in enumerate(_steps(model)):
        _reinitialise(net.get_submodule(path), seed + i)
        raw = predict_and_cam(SplitModel.at(net, model.layers[layer]), x, method, t).raw_cam[0]
        cam = maps[name] = input_cam(raw, size)
        flat = np.ptp(base) == 0 or np.ptp(cam) == 0  # an empty map ranks nothing: no correlation to report
        rho = None if flat else float(spearmanr(base.ravel(), cam.ravel()).statistic)
        out.append({"randomized": name, "spearman": rho,
                    "ssim": float(structural_similarity(base, cam, data_range=1.0))})
    result = {"target": model.target_label(t), "method": method, "layer": layer, "sanity": out}
    if with_maps:
        result.update(maps=maps, crop=model.prep.item(photo.pixels).permute(1, 2, 0).numpy().astype(np.uint8))
    if np.ptp(base) == 0:
        return {**result, "verdict": f"The map of {model.target_label(t)} is empty (no positive evidence on {layer}): "
                                     "nothing to check."}
    alike = [s for s in out if s["spearman"] is not None and s["spearman"] >= SIMILAR]
    result["verdict"] = (f"This map does not depend on the model's weights: with {alike[0]['randomized']} "
                         f"randomised it stays alike (Spearman {alike[0]['spearman']:.2f})." if alike else None)
    return result
