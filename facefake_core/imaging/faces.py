"""Where the face is: OpenCV's frontal-face Haar cascade (shipped with opencv-python 4.x).

``grey`` images are luminance ``uint8`` ``(H, W)``; boxes are :data:`~facefake_core.imaging.geometry.Box`.
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from .geometry import Box, clip_box

_log = logging.getLogger(__name__)

#: Haar cascade: longest side it runs at, step between scales, and smallest face (fraction of short side).
CASCADE_SIZE = 160
CASCADE_SCALE_FACTOR = 1.15
CASCADE_MIN_FACE = 0.25
CASCADE_FILE = "haarcascade_frontalface_default.xml"

# One cascade, loaded on first use; detectMultiScale is not guaranteed thread-safe, so calls hold the lock.
# A detection takes a few ms and already runs on all cores, so one per thread would buy little.
_cascade_lock = threading.Lock()
_cascade: list[cv2.CascadeClassifier | None] = []


def detect_face(grey: np.ndarray) -> Box | None:
    """Largest frontal face the Haar cascade finds.

    Args:
        grey: luminance, ``uint8`` ``(H, W)``.

    Returns:
        ``(x0, y0, x1, y1)`` in ``grey``'s pixels, or ``None``.
    """
    h, w = grey.shape
    scale = min(1.0, CASCADE_SIZE / max(h, w))
    small = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    min_side = max(12, int(CASCADE_MIN_FACE * min(small.shape)))
    with _cascade_lock:
        if not _cascade:
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
            if cascade.empty():  # opencv-python 5.x ships no cascades: fall back to sharpness
                _log.warning("no Haar cascade %s in cv2.data; faces are located by sharpness", CASCADE_FILE)
            _cascade.append(None if cascade.empty() else cascade)
        if _cascade[0] is None:
            return None
        found = _cascade[0].detectMultiScale(cv2.equalizeHist(small), scaleFactor=CASCADE_SCALE_FACTOR,
                                             minNeighbors=4, minSize=(min_side, min_side))
    if len(found) == 0:
        return None
    x, y, bw, bh = max(found, key=lambda r: r[2] * r[3])
    return clip_box((x / scale, y / scale, (x + bw) / scale, (y + bh) / scale), h, w)
