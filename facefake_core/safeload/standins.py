"""The safe loader's mechanism around the allowlist (:mod:`.allowlist`): resolving allowed names, inert
stand-ins for functions a learner does not need at inference, fastai 2.7 converters, plain-data checks, torch's
rebuild functions without hooks, and the per-session guards.
"""

from __future__ import annotations

import codecs
import functools
import importlib
import re
import types
from typing import Any, Callable

from ..errors import ModelLoadError, UnsafeModelError
from .allowlist import (
    BY_VALUE_SUBSTITUTES, CALL, CLOUDPICKLE_MODULES, FASTAI27_TRANSFORMS, GETATTR_PAIRS, PATTERN_METHODS, REF, Name,
)


def resolve(module: str, qualname: str) -> Any:
    """Import an allowlisted module and walk ``qualname`` in it.

    Args:
        module: dotted module name, already checked against the allowlist.
        qualname: attribute path inside the module (``"PILBase.create"``).

    Returns:
        The object, as ``getattr`` finds it.
    """
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def static_lookup(cls: type, name: str) -> Any:
    """``name`` as found in the class dictionaries along ``cls.__mro__``, without running descriptors or
    ``__getattr__`` (a class's own ``__getattr__`` may delegate to attacker-controlled state).

    Returns:
        The raw attribute (function, classmethod ...), or ``None`` when no class defines it.
    """
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def installed_function(module: str, qualname: str) -> Callable[..., Any]:
    """The installed plain function behind ``module.qualname``, unwrapping class- and staticmethods."""
    owner_path, _, name = qualname.rpartition(".")
    owner = resolve(module, owner_path) if owner_path else importlib.import_module(module)
    raw = static_lookup(owner, name) if isinstance(owner, type) else getattr(owner, name)
    return raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw


def make_stand_in(module: str, qualname: str, target: Callable[..., Any] | None = None) -> types.FunctionType:
    """A plain function standing in for one the file refers to but the loader will not load.

    With a ``target`` it forwards every call to that installed function; without one, calling it raises
    ``ModelLoadError`` (a notebook's ``label_func`` is not needed to predict).

    Args:
        module: module of the replaced function (``"__main__"``).
        qualname: its qualified name (``"label_func"``, ``"PILBase.create"``).
        target: installed function to forward to, or ``None`` for an inert stand-in.

    Returns:
        A function named like the one it replaces.
    """
    box: dict[str, Any] = {}

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        if box["target"] is None:
            raise ModelLoadError(
                f"{box['label']} was replaced by an inert stand-in when the model was loaded safely; "
                "it cannot run here"
            )
        return box["target"](*args, **kwargs)

    stand_in._facefake_box = box  # type: ignore[attr-defined]
    rename_stand_in(stand_in, module, qualname, target)
    return stand_in


def rename_stand_in(func: types.FunctionType, module: str, qualname: str,
                    target: Callable[..., Any] | None) -> None:
    """Give a stand-in the name (and, when it forwards, the annotations) of what it replaces."""
    func._facefake_box.update(label=f"{module}.{qualname}", target=target)  # type: ignore[attr-defined]
    func.__module__, func.__qualname__, func.__name__ = module, qualname, qualname.rpartition(".")[2]
    # fasttransform reads the first annotation of an encodes function to learn its input types.
    func.__annotations__ = dict(getattr(target, "__annotations__", None) or {})


def stand_in_label(func: types.FunctionType) -> tuple[str, bool]:
    """The dotted name a stand-in replaces, and whether it forwards to an installed function."""
    box = func._facefake_box  # type: ignore[attr-defined]
    return box["label"], box["target"] is not None


class InertCode:
    """Takes the place of ``types.CodeType`` for cloudpickle: keeps no bytecode, so nothing can run it."""

    def __init__(self, *args: Any) -> None:
        self.co_name = next((a for a in args if isinstance(a, str) and a.isidentifier()), "<code>")


class InertModule:
    """Takes the place of a module that cloudpickle would import for a by-value function's globals."""

    def __init__(self, name: str, *_: Any) -> None:
        self.name = str(name)

    def __repr__(self) -> str:
        return f"<inert module {self.name}>"


class InertCell:
    """Takes the place of a closure cell of a by-value function."""

    def __init__(self, value: Any = None) -> None:
        self.cell_contents = value


class TypeDispatch27:
    """Holds a fastai 2.7 ``fastcore.dispatch.TypeDispatch``'s state until its transform is converted."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def functions(self) -> list[Any]:
        """The registered functions, in registration order, each once."""
        found: list[Any] = []
        outer = getattr(getattr(self, "funcs", None), "d", {}) or {}
        for inner in outer.values():
            for func in (getattr(inner, "d", {}) or {}).values():
                if not any(func is f for f in found):
                    found.append(func)
        return found


class TypeDict27(TypeDispatch27):
    """Holds a fastai 2.7 ``fastcore.dispatch._TypeDict``'s state (the type -> function table)."""


def converter_27(target: type) -> type:
    """A class standing in for a fastai 2.7 ``fastcore.transform`` class while it is unpickled.

    Its ``__setstate__`` turns the object into an instance of ``target`` (the fasttransform 2.8 class) and,
    for a transform built from functions (``Transform(enc=PILImage.create)``), rebuilds the plum dispatch
    from those functions, as ``Transform.__init__`` does in 2.8.
    """

    class Converted27:
        def __setstate__(self, state: dict[str, Any]) -> None:
            state = dict(state)
            dispatch = {nm: state.pop(nm, None) for nm in ("encodes", "decodes", "setups")}
            init_enc = state.pop("init_enc", None)
            name = state.get("_name")
            self.__class__ = target
            self.__dict__.update(state)
            enc, dec = (d.functions() if isinstance(d, TypeDispatch27) else []
                        for d in (dispatch["encodes"], dispatch["decodes"]))
            if not enc and init_enc is not None and not dec:
                enc = [init_enc]
            if enc or dec:
                target.__init__(self, enc=(enc[0] if len(enc) == 1 else enc) or None, dec=dec or None,
                                split_idx=state.get("split_idx"), order=state.get("order"))
                if name is not None:
                    self._name = name

    Converted27.__qualname__ = Converted27.__name__ = f"Converted27[{target.__name__}]"
    return Converted27


@functools.cache
def _converter_for(name: str) -> type:
    return converter_27(resolve(*FASTAI27_TRANSFORMS[name]))


def describe(obj: Any) -> str:
    """``module.qualname`` of a class or function, else ``a <type> object`` (for one-line errors)."""
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    if isinstance(obj, types.MethodType):
        return f"the bound method {describe(obj.__func__)}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


def safe_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it (text to bytes), for plain text codecs only."""
    if not isinstance(obj, str) or str(encoding).lower() not in {"latin1", "latin-1", "utf-8", "utf8", "ascii"}:
        raise UnsafeModelError(f"it asks _codecs.encode for the codec {encoding!r}")
    return codecs.encode(obj, encoding, errors)


def union(left: Any, right: Any) -> Any:
    """``operator.or_`` for the ``A | B`` type annotations pickles rebuild, and nothing else."""
    if not all(isinstance(o, (type, types.UnionType)) for o in (left, right)):
        raise UnsafeModelError(f"it asks for {describe(left)} | {describe(right)}")
    return left | right


def is_plain(obj: Any, is_known: Callable[[Any], bool], _depth: int = 0) -> bool:
    """Whether ``obj`` is plain data a stdlib constructor may be given: numbers, text, exact builtin containers
    of plain data, allowed globals, and value objects (enum members, ``inspect.Parameter``, numpy dtypes)."""
    import enum
    import inspect

    import numpy

    if type(obj) in (type(None), bool, int, float, complex, str, bytes) or is_known(obj):
        return True
    if isinstance(obj, (enum.Enum, inspect.Parameter, numpy.dtype)):
        return True
    if _depth > 50:  # deep or self-referencing containers are not what an export holds
        return False
    if type(obj) in (tuple, list, set, frozenset):
        return all(is_plain(o, is_known, _depth + 1) for o in obj)
    if type(obj) is dict:
        return all(is_plain(k, is_known, _depth + 1) and is_plain(v, is_known, _depth + 1)
                   for k, v in obj.items())
    return False


def _no_hooks(hooks: Any) -> None:
    if hooks:  # torch never saves hooks; any here would run on backward (Grad-CAM does backward)
        raise UnsafeModelError("a tensor in it carries backward hooks")


def rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any,
                      backward_hooks: Any, metadata: Any = None) -> Any:
    """``torch._utils._rebuild_tensor_v2`` for storages only, without hooks."""
    import torch

    _no_hooks(backward_hooks)
    if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise UnsafeModelError(f"it rebuilds a tensor from {describe(storage)}")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata)


def rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> Any:
    """``torch._utils._rebuild_parameter`` for tensors only, without hooks."""
    import torch

    _no_hooks(backward_hooks)
    if not isinstance(data, torch.Tensor):
        raise UnsafeModelError(f"it rebuilds a parameter from {describe(data)}")
    return torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)


class SessionGuards:
    """Guarded versions of the risky globals real exports use, bound to one load's approvals.

    ``session`` must offer ``approve(obj, kind)``, ``is_known``, ``may_call``, ``may_allocate``,
    ``note_stub`` and ``note_remap`` (``safeload._Session``).
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        #: stand-ins created for cloudpickle by-value functions, in creation order
        self.by_value: list[types.FunctionType] = []
        self._getattr_owners: dict[str, list[str]] = {}
        for owner, attr in GETATTR_PAIRS:
            self._getattr_owners.setdefault(attr, []).append(owner)
        self._table: dict[Name, Any] = {
            ("builtins", "getattr"): self.getattr,
            ("_codecs", "encode"): safe_encode,
            ("_operator", "or_"): union,
            ("functools", "reduce"): self.reduce,
            ("_functools", "reduce"): self.reduce,
            ("functools", "partial"): self._partial_class(),
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
            ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type_v2,
        }
        self._cloudpickle: dict[str, Any] = {
            "_builtin_type": self.builtin_type, "_make_function": self.make_function,
            "_function_setstate": self.function_setstate, "subimport": InertModule,
            "dynamic_subimport": InertModule, "_make_empty_cell": InertCell, "_make_cell": InertCell,
        }

    def for_global(self, module: str, name: str) -> Any:
        """The guard standing in for ``module.name``, or ``None`` when there is none."""
        if module in CLOUDPICKLE_MODULES and name in self._cloudpickle:
            self.session.note_stub(f"{module}.{name}")
            return self._cloudpickle[name]
        return self._table.get((module, name))

    def fastai27(self, module: str, name: str) -> type | None:
        """The stand-in class for a fastai 2.7 ``fastcore.transform``/``fastcore.dispatch`` class, or ``None``."""
        if module == "fastcore.transform" and name in FASTAI27_TRANSFORMS:
            self.session.note_remap(f"{module}.{name} -> {'.'.join(FASTAI27_TRANSFORMS[name])}")
            return _converter_for(name)
        if module == "fastcore.dispatch" and name in ("TypeDispatch", "_TypeDict"):
            self.session.note_remap(f"{module}.{name} -> plum dispatch rebuilt by fasttransform")
            return TypeDispatch27 if name == "TypeDispatch" else TypeDict27
        return None

    # -- builtins -------------------------------------------------------------------------------------
    def getattr(self, obj: Any, name: Any, *default: Any) -> Any:
        """``getattr`` for the (owner, attribute) pairs in ``GETATTR_PAIRS`` only, looked up statically."""
        is_class = isinstance(obj, type)
        cls = obj if is_class else type(obj)
        allowed_obj = self.session.is_known(obj) if is_class else self.session.may_allocate(cls)
        if isinstance(obj, re.Pattern) and name in PATTERN_METHODS:
            return self.session.approve(getattr(obj, name), REF)
        owner_paths = self._getattr_owners.get(name, []) if isinstance(name, str) else []
        owners = [resolve(*path.rsplit(".", 1)) for path in owner_paths]
        raw = static_lookup(cls, name) if allowed_obj and any(issubclass(cls, o) for o in owners) else None
        if is_class and isinstance(raw, classmethod):
            found: Any = types.MethodType(raw.__func__, obj)
        elif isinstance(raw, types.FunctionType):
            found = raw if is_class else types.MethodType(raw, obj)
        else:
            raise UnsafeModelError(f"it asks for getattr({describe(obj)}, {name!r})")
        return self.session.approve(found, REF)

    def reduce(self, func: Any, iterable: Any, *initial: Any) -> Any:
        """``functools.reduce`` over a function the pickle may call anyway (``operator.or_`` for ``A | B``)."""
        if not self.session.may_call(func) or type(iterable) not in (tuple, list):
            raise UnsafeModelError(f"it asks functools.reduce to call {describe(func)}")
        return functools.reduce(func, iterable, *initial)

    def _partial_class(self) -> type:
        session = self.session

        def check(func: Any) -> None:
            if not session.is_known(func):
                raise UnsafeModelError(f"it wraps {describe(func)} in functools.partial")

        class SafePartial(functools.partial):
            """``functools.partial`` that only wraps functions this load allowed (aug_transforms uses it)."""

            def __new__(cls, func: Any, /, *args: Any, **kwargs: Any) -> "SafePartial":
                check(func)
                return super().__new__(cls, func, *args, **kwargs)

            def __setstate__(self, state: Any) -> None:
                check(state[0] if isinstance(state, tuple) and state else None)
                super().__setstate__(state)

            def __reduce__(self) -> Any:  # re-export as a plain partial
                return functools.partial, (self.func,), (self.func, self.args, self.keywords or None,
                                                          self.__dict__ or None)

        return SafePartial

    # -- torch ------------------------------------------------------------------------------------------
    def rebuild_from_type_v2(self, func: Any, new_type: Any, args: Any, state: Any) -> Any:
        """``torch._tensor._rebuild_from_type_v2`` for allowed tensor subclasses (fastai's TensorBase)."""
        import torch

        if func not in (rebuild_tensor_v2, rebuild_parameter) or not (
                self.session.is_known(new_type) and isinstance(new_type, type)
                and issubclass(new_type, torch.Tensor)):
            raise UnsafeModelError(f"it rebuilds a tensor of type {describe(new_type)} with {describe(func)}")
        return torch._tensor._rebuild_from_type_v2(func, new_type, args, state)

    # -- cloudpickle ------------------------------------------------------------------------------------
    def builtin_type(self, name: Any) -> Any:
        """cloudpickle's ``_builtin_type``: code objects become inert, bound methods are checked."""
        if name == "CodeType":
            return self.session.approve(InertCode, CALL)
        if name == "MethodType":
            return self.session.approve(self.method, CALL)
        raise UnsafeModelError(f"it asks cloudpickle for the built-in type {name!r}")

    def method(self, func: Any, obj: Any) -> types.MethodType:
        """``types.MethodType`` binding only functions this load allowed."""
        if not (isinstance(func, types.FunctionType) and self.session.is_known(func)) or isinstance(
                obj, types.ModuleType):
            raise UnsafeModelError(f"it binds {describe(func)} as a method")
        return types.MethodType(func, obj)

    def make_function(self, code: Any, globals_: Any, name: Any = None, *_: Any) -> types.FunctionType:
        """cloudpickle's ``_make_function``: a stand-in instead of a function built from the file's code."""
        if not isinstance(code, InertCode):
            raise UnsafeModelError(f"it builds a function from {describe(code)}")
        module = globals_.get("__name__") if isinstance(globals_, dict) else None
        func = make_stand_in(str(module or "<by-value>"), str(name or code.co_name))
        self.by_value.append(func)
        return self.session.approve(func, REF)

    def function_setstate(self, func: Any, state: Any) -> None:
        """cloudpickle's ``_function_setstate``: names the stand-in; known fastai functions get forwarded."""
        if not any(func is f for f in self.by_value):
            raise UnsafeModelError(f"it sets the state of {describe(func)}")
        slots = state[1] if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict) else {}
        module, qualname = slots.get("__module__"), slots.get("__qualname__")
        if isinstance(module, str) and isinstance(qualname, str):
            target = installed_function(module, qualname) if (module, qualname) in BY_VALUE_SUBSTITUTES else None
            rename_stand_in(func, module, qualname, target)
