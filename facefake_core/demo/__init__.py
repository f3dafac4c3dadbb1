"""The offline demo: synthetic portraits (camera against generator pipelines, casual against studio) and two
model rounds trained on them, built on first use when the Hugging Face hub cannot be reached.

Layer 4: above :mod:`facefake_core.training` and :mod:`facefake_core.imaging`. ``python -m facefake_core.demo DIR
SCALE`` is the child process that :func:`build_demo_isolated` starts.
"""

from .build import SCALES, DemoPaths, build_demo, build_demo_isolated, demo_intact, ensure_demo, find_demo
from .synth import LABELS, MANIFEST_NAME, STYLES, render_portrait, write_dataset

__all__ = [
    "DemoPaths", "LABELS", "MANIFEST_NAME", "SCALES", "STYLES", "build_demo", "build_demo_isolated", "demo_intact",
    "ensure_demo", "find_demo", "render_portrait", "write_dataset",
]
