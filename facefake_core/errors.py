"""The package's own exceptions. Pages and the CLI catch only these and show ``str(err)``: one line.

Hierarchy::

    FacefakeError
    ├── ImageLoadError      a file or buffer that cannot be read as an image
    ├── ModelLoadError      a model source that cannot be resolved, read or understood
    │   └── UnsafeModelError    a pickle that asks for a global outside the allowlist
    ├── HardSetError        a hard set that cannot be evaluated as given (layout, labels, manifest)
    ├── EngineError         an evaluation engine that cannot run (Ray not installed, a cluster out of reach)
    ├── EmbeddingError      a set's feature vectors cannot be mapped or searched (none stored, too few, no UMAP)
    ├── DemoBuildError      the offline demo could not be built
    ├── SettingsError       an operator setting (a FACEFAKE_* variable) that cannot be understood
    ├── AccessError         a request the serving mode refuses (a path outside FACEFAKE_ROOTS, a project folder)
    │   └── QuotaError          the upload area is full
    └── JobCancelled        a queued job was cancelled, waiting or running
"""

from __future__ import annotations


class FacefakeError(Exception):
    """Base of every error this package raises on purpose. The message is one line that says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ImageLoadError(FacefakeError):
    """An input cannot be decoded as an image (missing, empty, truncated, not an image, too large)."""


class ModelLoadError(FacefakeError):
    """A model source cannot be resolved, downloaded, read or understood as a fastai vision learner."""


class UnsafeModelError(ModelLoadError):
    """A pickle asked for a global that the safe loader does not allow; nothing in the file was run."""


class HardSetError(FacefakeError):
    """A hard set's folders or manifest cannot be matched to the model's classes."""


class EngineError(FacefakeError):
    """An evaluation engine cannot run: an unknown engine, Ray not installed, or a Ray cluster out of reach."""


class EmbeddingError(FacefakeError):
    """A set's feature vectors cannot be projected or searched as asked."""


class DemoBuildError(FacefakeError):
    """The offline demo (synthetic data and models) could not be built."""


class SettingsError(FacefakeError):
    """An operator setting (``FACEFAKE_PUBLIC``, ``FACEFAKE_SETS``, ...) that cannot be parsed."""


class AccessError(FacefakeError):
    """A path or request that the serving mode does not allow. The message never names a server folder that the
    visitor did not type."""


class QuotaError(AccessError):
    """An upload that would take the upload area over its size quota."""


class JobCancelled(FacefakeError):
    """A job of the work queue was cancelled while it waited for a slot or while it ran."""
