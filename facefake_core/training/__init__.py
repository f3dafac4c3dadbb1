"""Training: the seed's fine-tune recipe on a folder of images, with the demo's background-defocus fix.

Layer 3: above :mod:`facefake_core.safeload` and :mod:`facefake_core.imaging` (it trains fastai learners; it
never needs a loaded :class:`~facefake_core.model.Model`).
"""

from .finetune import export_for_inference, finetune, folder_dls, train_item_tfms

__all__ = ["export_for_inference", "finetune", "folder_dls", "train_item_tfms"]
