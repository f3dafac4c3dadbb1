"""Loading fastai learner pickles without letting them run code (see :mod:`.loader` for the rules).

Layer 1: depends only on the package's errors; :mod:`facefake_core.model` and :mod:`facefake_core.training`
build on it.
"""

from .loader import LoadReport, load_learner_safely

__all__ = ["LoadReport", "load_learner_safely"]
