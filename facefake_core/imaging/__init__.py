"""Pixels only: decoding photos, where things are on them, rendering heatmaps, focus and depth of field, spectra,
and the edits that counterfactual tests make. Nothing here knows about a model.

Layer 1 (above ``config``, ``errors`` and ``progress``). Photos are RGB ``uint8`` ``(H, W, 3)``, heatmaps float32
``(H, W)`` in ``[0, 1]``, boxes :data:`Box` (see :mod:`facefake_core.config`).
"""

from .edits import (
    VARIANTS, Variant, blur_background, edit, face_region, gaussian_blur, jpeg, make_variants, rescale,
    sharpen_background,
)
from .fileinfo import FileInfo, file_info
from .faces import detect_face
from .focus import (
    FOCUS_VERSION,
    NARROW_DOF_THRESHOLD,
    FocusMeasures,
    cam_in_bokeh,
    defocus_mask,
    measure_focus,
    sharpness_map,
)
from .geometry import Box, map_to_photo
from .photo import ImageInput, Photo, decode, file_sha256, load_photo, read_bytes
from .render import COLORMAPS, cam_overlay, draw_box, focus_overlay, overlay, png_bytes, thumbnail
from .spectrum import REGIONS, ProfileStats, RadialProfile, log_power_spectrum, mean_image_profile, radial_profile

__all__ = [
    "Box", "COLORMAPS", "FOCUS_VERSION", "FocusMeasures", "ImageInput", "NARROW_DOF_THRESHOLD", "Photo",
    "ProfileStats", "REGIONS", "RadialProfile", "VARIANTS", "Variant", "blur_background", "cam_in_bokeh",
    "cam_overlay", "decode", "focus_overlay", "face_region", "FileInfo", "file_info", "gaussian_blur", "defocus_mask", "detect_face", "draw_box", "edit", "file_sha256", "jpeg",
    "load_photo", "log_power_spectrum", "make_variants", "map_to_photo", "mean_image_profile", "measure_focus",
    "overlay", "png_bytes", "radial_profile", "read_bytes", "rescale", "sharpen_background", "sharpness_map",
    "thumbnail",
]
