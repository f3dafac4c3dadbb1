"""What a file says about itself before any pixel is judged: format, pixel size, bytes, JPEG quality, chroma
subsampling. A detector can learn these instead of the face (Grommelt et al., "Fake or JPEG?"), so the shortcut
audit and the slice tables read them.

Only the header is read (Pillow opens lazily; the quantisation tables are in the header).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from ..errors import ImageLoadError

#: The IJG (libjpeg) standard luminance quantisation table, natural (row-major) order, quality 50.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64)
#: Pillow's names for ``JpegImagePlugin.get_sampling``'s codes.
_SAMPLING = {-1: "unknown", 0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@dataclass(frozen=True)
class FileInfo:
    """Header facts of one image file. ``jpeg_quality`` and ``subsampling`` are ``None`` for non-JPEG files."""

    format: str
    width: int
    height: int
    file_bytes: int
    jpeg_quality: int | None
    subsampling: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def ijg_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg writes at ``quality`` (1..100), natural order (``jpeg_quality_scaling``)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


_TABLES = np.stack([ijg_table(q) for q in range(1, 101)])


def estimate_jpeg_quality(luma_table: np.ndarray | list[int]) -> int:
    """The IJG quality whose luminance table is closest (least absolute error) to ``luma_table``.

    Args:
        luma_table: 64 values in natural (row-major) order, as Pillow's ``im.quantization[0]`` gives them.
    """
    table = np.asarray(luma_table, np.float64).reshape(64)
    return int(np.argmin(np.abs(_TABLES - table).sum(1))) + 1


def file_info(path: str | os.PathLike) -> FileInfo:
    """Header facts of an image file.

    Raises:
        ImageLoadError: the file is missing or not an image Pillow can identify.
    """
    name = os.path.basename(path)
    try:
        size = os.path.getsize(path)
        with Image.open(path) as im:
            fmt, (w, h) = im.format or "unknown", im.size
            quality = subsampling = None
            if fmt == "JPEG":
                tables = getattr(im, "quantization", None) or {}
                quality = estimate_jpeg_quality(tables[0]) if 0 in tables else None
                subsampling = _SAMPLING.get(JpegImagePlugin.get_sampling(im), "unknown")
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ImageLoadError(f"{name}: cannot read the image header ({str(err).splitlines()[0] if str(err) else err})"
                             ) from None
    return FileInfo(fmt, int(w), int(h), int(size), quality, subsampling)
