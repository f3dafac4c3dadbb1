"""Decoding any image input into the package's one photo convention: RGB ``uint8`` ``(H, W, 3)``, upright.

The only deliberate difference from fastai's ``PILImage.create`` is that EXIF orientation is applied, so a
phone photo stored sideways is judged upright. Every other mode conversion follows PIL's ``convert("RGB")``,
as fastai does, except for the high-bit-depth modes that PIL cannot convert sensibly on its own.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import CONFIG
from ..errors import ImageLoadError

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray]


@dataclass(frozen=True)
class Photo:
    """A decoded input.

    Attributes:
        pixels: RGB uint8 array ``(H, W, 3)``, EXIF orientation applied.
        name: the file name, or ``"<bytes>"`` / ``"<array>"`` for in-memory inputs.
        sha256: hash of the encoded bytes (or of the pixels for arrays and PIL images).
        notes: remarks on the decoding, e.g. ``("first frame of 12",)``.
    """

    pixels: np.ndarray
    name: str
    sha256: str
    notes: tuple[str, ...] = ()


def read_bytes(path: str | os.PathLike, max_bytes: int | None = None) -> bytes:
    """Read a file for decoding, turning every OS-level failure into a one-line :class:`ImageLoadError`."""
    p = Path(path)
    limit = CONFIG.max_file_bytes if max_bytes is None else max_bytes
    try:
        if p.is_dir():
            raise ImageLoadError(f"{p.name}: is a directory, not an image file")
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise ImageLoadError(f"{p.name}: not a regular file")
        size = st.st_size
        if size > limit:
            raise ImageLoadError(f"{p.name}: file is {size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB limit")
        return p.read_bytes()
    except ImageLoadError:
        raise
    except FileNotFoundError:
        kind = "dangling symlink" if p.is_symlink() else "no such file"
        raise ImageLoadError(f"{p.name}: {kind}") from None
    except PermissionError:
        raise ImageLoadError(f"{p.name}: permission denied") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ImageLoadError(f"{p.name}: symlink loop") from None
        raise ImageLoadError(f"{p.name}: cannot read ({err.strerror or err})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB (an RGB image is returned as it is, not copied). High-bit-depth greys are
    rescaled, which ``convert("RGB")`` would clip."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if im.mode.startswith("I;16") else (float(np.nanmin(arr)), float(np.nanmax(arr)))
        if im.mode == "F" and 0.0 <= lo and hi <= 1.0:
            lo, hi = 0.0, 1.0
        scaled = np.clip((np.nan_to_num(arr) - lo) / max(hi - lo, 1e-12), 0, 1) * 255.0
        return Image.fromarray(np.round(scaled).astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB")


def decode(data: bytes, name: str = "<bytes>", max_pixels: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Decode encoded image bytes into an upright RGB uint8 array.

    Args:
        data: the encoded file.
        name: used in error messages.
        max_pixels: limit on width x height before any pixel is decoded.

    Returns:
        ``(pixels, notes)``: the ``(H, W, 3)`` uint8 array and decoding remarks.

    Raises:
        ImageLoadError: empty, truncated, not an image, or larger than the limit.
    """
    limit = CONFIG.max_pixels if max_pixels is None else max_pixels
    if not data:
        raise ImageLoadError(f"{name}: empty file")
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        raise ImageLoadError(f"{name}: SVG is a vector format; export it as PNG or JPEG first")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > limit:
                raise ImageLoadError(f"{name}: {w}x{h} pixels is over the {limit:,}-pixel limit")
            if w < 1 or h < 1:
                raise ImageLoadError(f"{name}: image has no pixels")
            n_frames = getattr(im, "n_frames", 1)
            if n_frames > 1:
                notes.append(f"first frame of {n_frames}")
            im.load()
            ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of an upright photo
            rgb = _to_rgb(im)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"{name}: declared size is too large (decompression bomb guard)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err).split("\n")[0] or type(err).__name__
        if "truncated" in reason.lower() or isinstance(err, EOFError):
            reason = "truncated image data"
        raise ImageLoadError(f"{name}: cannot decode ({reason})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), tuple(notes)


def load_photo(image: ImageInput, max_pixels: int | None = None, name: str | None = None) -> Photo:
    """Turn any accepted input (path, bytes, PIL image, RGB array) into a :class:`Photo`.

    Args:
        name: what to call an in-memory input in errors and results (e.g. an uploaded file's name).

    Raises:
        ImageLoadError: with a one-line reason naming the input.
    """
    if isinstance(image, (str, os.PathLike)):
        data = read_bytes(image)
        pixels, notes = decode(data, Path(image).name, max_pixels)
        return Photo(pixels, str(image), hashlib.sha256(data).hexdigest(), notes)
    if isinstance(image, (bytes, bytearray)):
        data, label = bytes(image), name or "<bytes>"
        if len(data) > CONFIG.max_file_bytes:
            raise ImageLoadError(f"{label}: {len(data) / 1e6:.1f} MB is over the "
                                 f"{CONFIG.max_file_bytes / 1e6:.0f} MB limit")
        pixels, notes = decode(data, label, max_pixels)
        return Photo(pixels, label, hashlib.sha256(data).hexdigest(), notes)
    if isinstance(image, Image.Image):
        pixels = np.ascontiguousarray(np.asarray(_to_rgb(ImageOps.exif_transpose(image)), dtype=np.uint8))
        return Photo(pixels, "<image>", hashlib.sha256(pixels.tobytes()).hexdigest())
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
            raise ImageLoadError(f"<array>: expected RGB uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
        pixels = np.ascontiguousarray(arr[..., :3])
        return Photo(pixels, "<array>", hashlib.sha256(pixels.tobytes()).hexdigest())
    raise ImageLoadError(f"unsupported image input of type {type(image).__name__}")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
