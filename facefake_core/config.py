"""Named defaults, in one frozen object. Override per call, or through the environment where noted.

Image convention used everywhere in the package (stated once, converted only at the edges):

* photos are RGB ``uint8`` arrays of shape ``(H, W, 3)``, upright (EXIF orientation applied);
* heatmaps are ``float32`` arrays of shape ``(H, W)`` with values in ``[0, 1]``;
* boxes are ``(x0, y0, x1, y1)`` in pixel coordinates of the upright photo, ``x1``/``y1`` exclusive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HUB_MODEL = "hf://BA-Baracus/face-fake-or-not-v1/round2_final.pkl"


def _cache_root() -> Path:
    base = os.environ.get("FACEFAKE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "facefake"
    )
    return Path(base)


@dataclass(frozen=True)
class Config:
    """Defaults of the whole tool. ``CONFIG`` is the instance everyone reads."""

    hub_model: str = HUB_MODEL
    #: Seconds to wait for the hub before falling back to the offline demo.
    hub_timeout_s: float = 5.0
    #: Largest decoded image, in pixels (guards memory against decompression bombs).
    max_pixels: int = 40_000_000
    #: Largest file accepted by loaders and uploads, in bytes.
    max_file_bytes: int = 50 * 1024 * 1024
    #: Default CAM method and target-layer name (``None``: the model's default, layer4 for ResNets).
    cam_method: str = "gradcam"
    colormap: str = "jet"
    overlay_alpha: float = 0.45
    #: Threshold on P(fake) above which an image is called fake.
    threshold: float = 0.5
    #: Cosine distance between two images' feature vectors below which they count as near-duplicates (measured on
    #: re-encoded, resized and cropped copies of demo portraits against distinct ones: docs/embedding-map.md).
    near_duplicate_distance: float = 0.001
    #: Perceptual-hash distance (bits of 256, ``imaging.perceptual``) at or below which two images count as
    #: near-duplicates whatever the model sees; measured on copies of demo portraits (docs/embedding-map.md).
    near_duplicate_hamming: int = 40
    #: Nearest neighbours listed per image.
    neighbours_k: int = 5
    #: Serving (``facefake_core.serving``; each overridable by the operator's ``FACEFAKE_*`` variable named here).
    #: Heavy jobs (evaluations, sweeps) that run at once in public mode (``FACEFAKE_QUEUE_SLOTS``); 1 suits 2 cores.
    queue_slots: int = 1
    #: Size quota of the upload area, in bytes (``FACEFAKE_UPLOAD_QUOTA_MB``).
    upload_quota_bytes: int = 2 * 1024**3
    #: Uploads older than this many seconds are deleted (``FACEFAKE_UPLOAD_TTL_H``, in hours).
    upload_ttl_s: float = 24 * 3600.0
    #: Largest upload widget file in public mode, in megabytes (Streamlit's ``server.maxUploadSize``).
    public_max_upload_mb: int = 50
    #: Photos one Batch upload predicts in public mode (the rest are not run).
    public_batch_max: int = 64

    @property
    def cache_dir(self) -> Path:
        return _cache_root()

    @property
    def store_path(self) -> Path:
        return Path(os.environ.get("FACEFAKE_STORE") or self.cache_dir / "results.sqlite")

    @property
    def demo_dir(self) -> Path:
        return Path(os.environ.get("FACEFAKE_DEMO_DIR") or self.cache_dir / "demo")

    @property
    def upload_dir(self) -> Path:
        """Where the dashboard writes uploaded sets and models (``FACEFAKE_UPLOAD_DIR``, else the system's
        temporary folder)."""
        import tempfile

        return Path(os.environ.get("FACEFAKE_UPLOAD_DIR") or Path(tempfile.gettempdir()) / "facefake-uploads")


CONFIG = Config()


def default_model_source() -> str | None:
    """The model named by ``FACEFAKE_MODEL``, or ``None`` when the environment names none."""
    return os.environ.get("FACEFAKE_MODEL") or None
