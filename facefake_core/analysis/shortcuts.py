"""The shortcut audit: could a detector tell fake from real on this set without looking at a face?

A set whose fakes are PNG and whose reals are JPEG (or whose classes differ in size, file size, JPEG quality or
chroma subsampling) lets a model learn the file instead of the face (Grommelt et al., "Fake or JPEG?"). Per class
it lists those header facts; ``metadata_auc`` is the cross-validated AUC of a scikit-learn random forest that sees
only them, never a pixel. Above :data:`WARN_AUC` the set itself gives the answer away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score

from ..errors import ImageLoadError
from ..imaging.fileinfo import FileInfo, file_info

WARN_AUC = 0.8
#: Folds of the cross-validation (fewer when a class has fewer images), and the forest's seed.
FOLDS = 5
SEED = 0


def _stats(values: Sequence[float]) -> dict | None:
    if not values:
        return None
    v = np.asarray(values, float)
    return {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}


def _class_summary(infos: Sequence[FileInfo]) -> dict:
    jpeg = [i.jpeg_quality for i in infos if i.jpeg_quality is not None]
    return {"n": len(infos), "format": dict(Counter(i.format for i in infos)),
            "width": _stats([i.width for i in infos]), "height": _stats([i.height for i in infos]),
            "file_bytes": _stats([i.file_bytes for i in infos]), "jpeg_quality": _stats(jpeg),
            "subsampling": dict(Counter(i.subsampling or "n/a" for i in infos))}


def features(infos: Sequence[FileInfo]) -> np.ndarray:
    """The metadata a shortcut classifier sees, one row per file: one-hot format and subsampling, width,
    height, log2 file bytes, JPEG quality (-1 when not JPEG)."""
    formats = sorted({i.format for i in infos})
    samplings = sorted({i.subsampling or "n/a" for i in infos})
    return np.array([[i.format == f for f in formats] + [(i.subsampling or "n/a") == s for s in samplings]
                     + [i.width, i.height, np.log2(max(i.file_bytes, 1)), -1 if i.jpeg_quality is None
                        else i.jpeg_quality] for i in infos], float)


def metadata_auc(infos: Sequence[FileInfo], y: Sequence[int]) -> float | None:
    """Mean ROC AUC over stratified folds of a random forest on :func:`features`; ``None`` when a class has fewer
    than two files."""
    y_ = np.asarray(y, int)
    folds = min(FOLDS, int(y_.sum()), int(len(y_) - y_.sum()))
    if folds < 2:
        return None
    forest = RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1)
    cv = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    return float(cross_val_score(forest, features(infos), y_, cv=cv, scoring="roc_auc").mean())


def audit(items: Sequence[tuple[str, str]], positive: str = "fake", workers: int = 4) -> dict:
    """The shortcut audit of a labelled set.

    Args:
        items: ``(path, label)`` of each image.
        positive: the class a detector exists to catch.

    Returns:
        ``{classes: {label: {n, format, width, height, file_bytes, jpeg_quality, subsampling}}, metadata_auc,
        warning, unreadable}``; ``warning`` is a sentence when ``metadata_auc`` exceeds :data:`WARN_AUC`, else
        ``None``; ``unreadable`` lists files whose header could not be read (left out).
    """
    def one(item: tuple[str, str]):
        try:
            return item, file_info(item[0]), None
        except ImageLoadError as err:
            return item, None, str(err)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        got = list(pool.map(one, items))
    ok = [(label, info) for (_, label), info, _ in got if info is not None]
    classes = {label: _class_summary([i for lab, i in ok if lab == label]) for label in sorted({lab for lab, _ in ok})}
    auc = metadata_auc([i for _, i in ok], [lab == positive for lab, _ in ok]) if ok else None
    warning = None
    if auc is not None and auc > WARN_AUC:
        warning = (f"The files alone (format, size, bytes, JPEG quality, chroma subsampling) tell {positive} from "
                   f"the rest with AUC {auc:.2f}: the set itself gives the answer away, so a model can score well "
                   "on it without looking at a face.")
    return {"classes": classes, "metadata_auc": auc, "warning": warning,
            "unreadable": [{"path": p, "error": e} for (p, _), _, e in got if e]}
