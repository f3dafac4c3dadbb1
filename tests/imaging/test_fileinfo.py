"""Header facts: the JPEG quality estimate against the quality libjpeg was asked for (through Pillow and OpenCV),
chroma subsampling as Pillow reports it, and a clear error for a file that is not an image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from facefake_core import ImageLoadError
from facefake_core.imaging.fileinfo import file_info


@pytest.mark.parametrize("quality", [20, 55, 75, 92, 100])
def test_quality_is_the_one_the_encoder_used(tmp_path, quality):
    img = (np.random.default_rng(quality).random((48, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "p.jpg", quality=quality)
    cv2.imwrite(str(tmp_path / "c.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert file_info(tmp_path / "p.jpg").jpeg_quality == quality
    assert file_info(tmp_path / "c.jpg").jpeg_quality == quality


def test_format_size_bytes_and_subsampling(tmp_path):
    img = np.zeros((30, 50, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "a.jpg", quality=90, subsampling=0)
    Image.fromarray(img).save(tmp_path / "b.png")
    a, b = file_info(tmp_path / "a.jpg"), file_info(tmp_path / "b.png")
    assert (a.format, a.width, a.height, a.subsampling) == ("JPEG", 50, 30, "4:4:4")
    assert a.file_bytes == (tmp_path / "a.jpg").stat().st_size
    assert (b.format, b.jpeg_quality, b.subsampling) == ("PNG", None, None)
    (tmp_path / "c.jpg").write_text("not an image")
    with pytest.raises(ImageLoadError, match="c.jpg"):
        file_info(tmp_path / "c.jpg")
