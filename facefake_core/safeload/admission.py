"""The admission rule: which classes of the trusted packages a pickle may allocate and fill with state.

A class is admitted (kind ``NEW``: never called while unpickling) when

* it is defined in an installed trusted package (``allowlist.TRUSTED_PACKAGES``) under the very name the pickle
  asks for (no re-exports, no dotted names);
* it subclasses one of ``allowlist.TRUSTED_BASES`` or is defined in one of ``allowlist.TRUSTED_CLASS_MODULES``;
* each hook that unpickling or garbage collection can run on its instances (``allowlist.ADMISSION_HOOKS``,
  looked up statically along the MRO) is Python's own or is on ``allowlist.VETTED_HOOKS``.

Anything else is refused with a one-line reason naming the class and, where it applies, the hook.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import Any

from ..errors import UnsafeModelError
from . import allowlist as al


@functools.cache
def _bases() -> tuple[type, ...]:
    found = []
    for module, name in al.TRUSTED_BASES:
        if module.split(".")[0] in _installed():
            try:
                found.append(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError):  # a trusted package of another version: that base is absent
                continue
    return tuple(found)


@functools.cache
def _installed() -> frozenset[str]:
    return frozenset(p for p in al.TRUSTED_PACKAGES if importlib.util.find_spec(p) is not None)


def hook_problem(cls: type) -> str | None:
    """Why ``cls`` may not be admitted for its hooks, or ``None`` when every hook is default or vetted."""
    for hook in al.ADMISSION_HOOKS:
        owner = next((k for k in cls.__mro__ if hook in vars(k)), None)
        if owner is None or owner.__module__ == "builtins":
            continue
        impl = f"{owner.__module__}.{owner.__qualname__}.{hook}"
        if impl not in al.VETTED_HOOKS:
            return f"its {hook} ({impl}) is not one the loader has vetted"
    return None


def admit(module: str, name: str) -> type | None:
    """The class ``module.name`` if the admission rule allows it, else ``None`` (not a trusted package's class).

    Raises:
        UnsafeModelError: a trusted package's class that the rule refuses (an unvetted hook, no trusted base).
    """
    if module.split(".")[0] not in _installed() or "." in name or name.startswith("__"):
        return None
    try:
        obj: Any = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    if not isinstance(obj, type) or obj.__module__ != module or obj.__qualname__ != name:
        return None  # a function, a re-exported name, or something stored under another name
    if not (module in al.TRUSTED_CLASS_MODULES or issubclass(obj, _bases())):
        raise UnsafeModelError(f"it asks for the class {module}.{name}, which is neither on the allowlist nor "
                               "a module, transform, callback, metric, loss or distribution class")
    problem = hook_problem(obj)
    if problem:
        raise UnsafeModelError(f"it asks for the class {module}.{name}, but {problem}")
    return obj
