"""Which CAM method is most faithful for this model: every method scored by ROAD on a few images of a set.

Each image's maps (one per method) and its two yardsticks (a ``RandomCAM`` and Sobel edges, which explain nothing)
are scored by :func:`~facefake_core.analysis.faithfulness.road_scores` image by image (on the CPU in the lanes), with
the same seeding as :func:`~facefake_core.analysis.faithfulness.faithfulness`, so a method's score on an image is the
score ``faithfulness`` gives that image and method. Scores are in logit units of the explained class (see that
module).
A method earns trust on this model when it beats both yardsticks on most images, not only on average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam.metrics.road import NoisyLinearImputer

from ..config import CONFIG
from ..errors import ImageLoadError
from ..evaluation import Evaluation, Row, errors_by_loss, most_wrong_first
from ..imaging import load_photo
from ..model import CAM_METHODS, Margin, Model, predict_and_cam
from ..progress import Progress
from .faithfulness import PERCENTILES, SEED, input_cam, road_scores, target_score, yardsticks

#: Methods scored by default: every offered one but AblationCAM, which re-runs the tail once per channel (slow).
DEFAULT_METHODS = tuple(m for m in CAM_METHODS if m != "ablationcam")
#: The yardsticks, as they appear in the table.
BASELINES = ("random", "sobel")


@dataclass(frozen=True)
class MethodTable:
    """ROAD scores of CAM methods on a few images.

    Attributes:
        scores: one row per image and map: ``image`` (path), ``method`` (a method or a yardstick), ``road_combined``.
        summary: one row per method, most faithful first: ``method``, ``mean`` and ``median`` ROAD,
            ``beats_random`` and ``beats_sobel`` (share of the images where it scored above that image's
            yardstick), ``n``; the yardsticks' own means close the table.
        target: what the maps explain (a class, ``"predicted class"`` or ``"fake − real"``).
        skipped: ``(path, reason)`` of images that could not be read.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    target: str
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def best(self) -> str | None:
        """The method with the highest mean score, or ``None`` without any image."""
        methods = self.summary[~self.summary["method"].isin(BASELINES)]
        return None if methods.empty else str(methods.iloc[0]["method"])

    def to_dict(self) -> dict:
        """What ``facefake faithfulness --json`` prints (NaN as ``None``)."""
        clean = lambda df: df.astype(object).where(df.notna(), None).to_dict("records")  # noqa: E731
        return {"target": self.target, "best": self.best, "summary": clean(self.summary),
                "scores": clean(self.scores), "skipped": [{"path": p, "error": e} for p, e in self.skipped]}


def check_methods(methods: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``methods`` are one or more keys of :data:`~facefake_core.model.CAM_METHODS`."""
    unknown = [m for m in methods if m not in CAM_METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown CAM method {', '.join(unknown) or '(none)'}; choose from {', '.join(CAM_METHODS)}")


def errors_sample(ev: Evaluation, n: int = 8, threshold: float = CONFIG.threshold) -> list[Row]:
    """The set's ``n`` most wrong errors at ``threshold``; the ``n`` highest-loss rows when it has none."""
    errors = errors_by_loss(ev, threshold)
    return list((errors or most_wrong_first(ev))[:n])


def _summary(scores: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    wide = scores.pivot(index="image", columns="method", values="road_combined")
    rows = []
    for m in methods:
        col = wide[m]
        rows.append({"method": m, "mean": col.mean(), "median": col.median(),
                     **{f"beats_{b}": float((col > wide[b]).mean()) for b in BASELINES}, "n": int(col.count())})
    rows.sort(key=lambda r: -r["mean"])
    rows += [{"method": b, "mean": wide[b].mean(), "median": wide[b].median(), "beats_random": None,
              "beats_sobel": None, "n": int(wide[b].count())} for b in BASELINES]
    return pd.DataFrame(rows)


def method_table(model: Model, rows: Sequence[Row], methods: Sequence[str] = DEFAULT_METHODS,
                 target: int | str | None = None, percentiles: Sequence[int] = PERCENTILES, seed: int = SEED,
                 progress: Progress | None = None) -> MethodTable:
    """Score each CAM method's map of each image by ROAD, beside the random and Sobel yardsticks.

    Args:
        model: the model whose maps are judged.
        rows: the images (e.g. :func:`errors_sample` of an evaluation).
        methods: keys of :data:`~facefake_core.model.CAM_METHODS`.
        target: the class the maps explain (a name, an index or ``"margin"``); ``None``: each image's predicted
            class.
        progress: called as ``progress(done, total, what)`` after each image.

    Returns:
        A :class:`MethodTable`.

    Raises:
        ValueError: an unknown method or target.
    """
    check_methods(methods)
    spec = model.target_index(target)
    records, skipped = [], []
    for i, row in enumerate(rows):
        try:
            photo = load_photo(row.path)
        except ImageLoadError as err:
            skipped.append((row.path, str(err)))
            continue
        x = model.prepare([photo])
        h, w = x.shape[-2:]
        cams, t, split = {}, spec, model.split().ran(x)  # one front pass for every method and the yardstick
        for m in methods:
            res = predict_and_cam(split, x, m, spec)
            t = spec if isinstance(spec, Margin) else int(res.targets[0])
            cams[m] = input_cam(res.raw_cam[0], (w, h))
        cams.update(yardsticks(model, x, photo, t, seed, split))
        base = float(target_score(torch.from_numpy(res.logits), t)[0])  # the unperturbed score, from the maps' pass
        got, _, _ = road_scores(model, x[0].detach().cpu().contiguous(), cams, t, {"road": NoisyLinearImputer()},
                                percentiles, seed, base)
        records += [{"image": row.path, "method": name, "road_combined": got[("road", name)][0]} for name in cams]
        if progress:
            progress(i + 1, len(rows), "scoring the CAM methods")
    scores = pd.DataFrame(records, columns=["image", "method", "road_combined"])
    summary = (_summary(scores, methods) if records else
               pd.DataFrame(columns=["method", "mean", "median", "beats_random", "beats_sobel", "n"]))
    label = "predicted class" if spec is None else model.target_label(spec)
    return MethodTable(scores, summary, label, tuple(skipped))
