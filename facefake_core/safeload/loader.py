"""Load a fastai learner pickle (``learn.export``) without letting the file run code, across fastai 2.7/2.8.

``fastai.learner.load_learner`` unpickles with ``weights_only=False``: a ``.pkl`` can run anything. Here the
file is read by a restricted unpickler (stdlib ``pickle._Unpickler`` with its opcode table guarded), passed to
``torch.load`` as its ``pickle_module`` so torch still rebuilds storages through its own ``persistent_load``:

* a global is resolved only if its exact ``(module, qualname)`` is on the allowlist (:mod:`.allowlist`), and
  only for its kind of use: called while unpickling, allocated as a class, or merely referenced; stdlib
  callables and ``NEWOBJ`` get plain data only (``list(x)`` must not run a rebuilt object's ``__iter__``);
* ``BUILD``/``APPEND``/``SETITEM`` may not touch allowed classes, functions or modules themselves (that would
  patch them for the whole process); ``BUILD`` may not plant a ``__setstate__`` or set special attributes, the
  container opcodes only fill plain containers (they call the target's own methods), and protocol 0/1
  instance opcodes are refused;
* classes of the trusted packages that the allowlist does not name are admitted by rule (:mod:`.admission`);
* cloudpickle's function rebuilding, ``__main__`` functions and their helpers get inert stand-ins;
  fastai 2.7's ``fastcore.transform``/``fastcore.dispatch`` objects become their fasttransform 2.8 versions.

Anything else raises ``UnsafeModelError`` naming the global, before it is called.
"""

from __future__ import annotations

import _compat_pickle
import functools
import os
import pickle
import types
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import admission
from . import allowlist as al
from . import standins as si
from ..errors import FacefakeError, ModelLoadError, UnsafeModelError

if TYPE_CHECKING:
    from fastai.learner import Learner


@dataclass(frozen=True)
class LoadReport:
    """How a learner was loaded.

    Attributes:
        method: ``"safe-pickle"`` (restricted unpickling) or ``"trusted-pickle"`` (fastai's ``load_learner``).
        stubbed: dotted names replaced by inert stand-ins (``"__main__.label_func"``, cloudpickle helpers).
        remapped: ``"old -> new"`` for globals mapped onto what this environment has (fastai 2.7 -> 2.8,
            ``pathlib.WindowsPath`` -> ``pathlib.Path``, by-value functions -> installed ones).
        fastai_version: ``"2.7"`` or ``"2.8"`` when the pickle shows which fastai exported it, else ``None``.
    """

    method: str
    stubbed: tuple[str, ...] = ()
    remapped: tuple[str, ...] = ()
    fastai_version: str | None = None


def load_learner_safely(path: str | os.PathLike, *, trust: bool = False) -> tuple["Learner", LoadReport]:
    """Load a ``learn.export`` file onto the CPU.

    Args:
        path: the ``.pkl`` file.
        trust: ``False`` (default) reads it with the restricted unpickler. ``True`` calls fastai's own
            ``load_learner``, which runs whatever code the file holds: only for files you trust.

    Returns:
        The learner (usable for ``predict``) and a ``LoadReport``.

    Raises:
        UnsafeModelError: the file asks for a global outside the allowlist (named in the one-line message).
        ModelLoadError: the path is not a file, or it is truncated, not a pickle, or not a fastai learner.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(f"No model file at {file}")
    if file.stat().st_size == 0:
        raise ModelLoadError(f"{file.name} is empty, not a fastai learner export")
    if trust:
        return _load_trusted(file)
    session = _Session()
    try:
        learner = _as_cpu_learner(_unpickle(file, session), file)
    except UnsafeModelError as err:
        raise UnsafeModelError(f"Refused to load {file.name}: {err}. No code from the file was run; if you trust "
                               "its source, load it with --trust-pickle (trust=True), or run `facefake convert` on "
                               "it on a trusted machine and load the converted folder") from None
    except FacefakeError:
        raise
    except Exception as err:  # noqa: BLE001 - unpickling a damaged file can raise nearly any exception type
        raise ModelLoadError(f"{file.name} could not be read as a fastai learner export "
                             f"({type(err).__name__}: {_first_line(err)})") from None
    return learner, session.report()


def _unpickle(file: Path, session: "_Session") -> Any:
    with open(file, "rb") as fh:
        head = fh.read(2)
        if head == b"PK":  # torch's zip format, which learn.export writes
            names = _zip_names(file)
            if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
                raise ModelLoadError(f"{file.name} is a TorchScript archive, not a fastai learner export")
            import torch

            return torch.load(file, map_location="cpu", pickle_module=session.pickle_module(),
                              weights_only=False)
        if len(head) == 2 and head[0] == pickle.PROTO[0] and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
            fh.seek(0)
            return session.unpickler_class()(fh).load()
    raise ModelLoadError(f"{file.name} is not a fastai learner export (neither a torch archive nor a pickle)")


def _zip_names(file: Path) -> list[str]:
    try:
        with zipfile.ZipFile(file) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelLoadError(f"{file.name} is truncated or damaged ({_first_line(err)})") from None


def _as_cpu_learner(obj: Any, file: Path) -> "Learner":
    from fastai.learner import Learner

    if not isinstance(obj, Learner):
        raise ModelLoadError(f"{file.name} holds a {type(obj).__name__}, not a fastai Learner")
    # The same CPU preparation as fastai's load_learner(cpu=True).
    obj.dls.cpu()
    if hasattr(obj, "channels_last"):
        obj = obj.to_contiguous(to_fp32=True)
    elif hasattr(obj, "mixed_precision"):
        obj = obj.to_fp32()
    elif hasattr(obj, "non_native_mixed_precision"):
        obj = obj.to_non_native_fp32()
    return obj


def _load_trusted(file: Path) -> tuple["Learner", LoadReport]:
    from fastai.learner import load_learner

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*insecure pickle.*")  # the caller chose to trust it
            learner = load_learner(file, cpu=True)
    except Exception as err:  # noqa: BLE001 - a trusted pickle can fail in any way its code chooses
        raise ModelLoadError(f"fastai could not load {file.name} ({type(err).__name__}: {_first_line(err)})")
    return learner, LoadReport(method="trusted-pickle", fastai_version=_sniff_version(file))


def _sniff_version(file: Path) -> str | None:
    """Which fastai exported ``file``, from the module names in its pickle (read as bytes, not unpickled)."""
    try:
        with zipfile.ZipFile(file) as zf:
            data = b"".join(zf.read(n) for n in zf.namelist() if n.endswith("data.pkl"))
    except (zipfile.BadZipFile, OSError):
        data = file.read_bytes()[:50_000_000]
    return _version_from_modules({m.decode() for m in (b"fastcore.transform", b"fasttransform.transform")
                                  if m in data})


def _version_from_modules(modules: set[str]) -> str | None:
    if {"fastcore.transform", "fastcore.dispatch"} & modules:
        return "2.7"
    if "fasttransform.transform" in modules or any(m.startswith("plum.") for m in modules):
        return "2.8"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "no details"


class _Session:
    """One load: resolves globals, hands out stand-ins, and remembers what it allowed and replaced."""

    def __init__(self) -> None:
        self._stubbed: dict[str, None] = {}
        self._remapped: dict[str, None] = {}
        self._modules: set[str] = set()
        self._cache: dict[tuple[str, str], Any] = {}
        # id -> object; holding the objects keeps their ids from being reused during the load.
        self._known: dict[int, Any] = {}
        self._callable: dict[int, Any] = {}
        self._allocatable: dict[int, Any] = {}
        self._plain_args_only: dict[int, Any] = {}  # stdlib callables: plain data arguments only
        self.guards = si.SessionGuards(self)

    # -- approval ---------------------------------------------------------------------------------------
    def approve(self, obj: Any, kind: str) -> Any:
        self._known[id(obj)] = obj
        if kind == al.CALL:
            self._callable[id(obj)] = obj
        if kind == al.NEW or (kind == al.CALL and isinstance(obj, type)):
            self._allocatable[id(obj)] = obj
        return obj

    def is_known(self, obj: Any) -> bool:
        return id(obj) in self._known

    def may_call(self, obj: Any) -> bool:
        return id(obj) in self._callable

    def may_allocate(self, obj: Any) -> bool:
        return id(obj) in self._allocatable

    def check_call(self, func: Any, args: Any) -> None:
        """Raise UnsafeModelError unless the pickle may call ``func(*args)``."""
        if not self.may_call(func):
            raise UnsafeModelError(f"it calls {si.describe(func)}, which it may not call")
        if id(func) in self._plain_args_only and not si.is_plain(args, self.is_known):
            raise UnsafeModelError(f"it calls {si.describe(func)} on something other than plain data")

    def check_new(self, cls: Any, args: Any, kwargs: Any = None) -> None:
        """Raise UnsafeModelError unless the pickle may allocate ``cls.__new__(cls, *args, **kwargs)``."""
        if not self.may_allocate(cls):
            raise UnsafeModelError(f"it creates {si.describe(cls)}, which it may not create")
        if not si.is_plain((args, kwargs), self.is_known):  # tuple.__new__(x) iterates x, str.__new__ ...
            raise UnsafeModelError(f"it creates {si.describe(cls)} from something other than plain data")

    def note_stub(self, label: str) -> None:
        self._stubbed[label] = None

    def note_remap(self, label: str) -> None:
        self._remapped[label] = None

    # -- globals ----------------------------------------------------------------------------------------
    def find(self, module: str, name: str) -> Any:
        """The object a pickle gets for the global ``module.name``; raises UnsafeModelError if not allowed."""
        key = (module, name)
        if key not in self._cache:
            self._modules.add(module)
            self._cache[key] = self._resolve(module, name)
        return self._cache[key]

    def _resolve(self, module: str, name: str) -> Any:
        key = (module, name)
        if module == "__main__":  # defined in the exporting notebook; not needed to predict
            self.note_stub(f"__main__.{name}")
            return self.approve(si.make_stand_in("__main__", name), al.REF)
        if key in al.REMAPPED:
            target = al.REMAPPED[key]
            self.note_remap(f"{module}.{name} -> {'.'.join(target)}")
            return self._approve_allowed(si.resolve(*target), al.ALLOWED[target])
        converted = self.guards.fastai27(module, name)
        if converted is not None:
            return self.approve(converted, al.NEW)
        guard = self.guards.for_global(module, name)
        if guard is not None:
            return self.approve(guard, al.CALL)
        if key in al.INERT_REFERENCES:
            self.note_stub(f"{module}.{name}")
            return self.approve(si.make_stand_in(module, name), al.REF)
        if key in al.ALLOWED:
            return self._approve_allowed(si.resolve(module, name), al.ALLOWED[key])
        admitted = admission.admit(module, name)
        if admitted is not None:
            return self.approve(admitted, al.NEW)
        raise UnsafeModelError(f"it asks for the global {module}.{name}, which is not on the allowlist")

    def _approve_allowed(self, obj: Any, kind: str) -> Any:
        if kind == al.CALL:
            self._plain_args_only[id(obj)] = obj
        return self.approve(obj, kind)

    # -- plumbing for torch.load --------------------------------------------------------------------------
    def unpickler_class(self) -> type:
        return type("SessionUnpickler", (_RestrictedUnpickler,), {"session": self})

    def pickle_module(self) -> types.ModuleType:
        """A stand-in for the ``pickle`` module, as ``torch.load(pickle_module=...)`` expects."""
        mod = types.ModuleType("facefake_restricted_pickle")
        mod.Unpickler = self.unpickler_class()  # type: ignore[attr-defined]
        mod.load = lambda f, **kw: mod.Unpickler(f, **kw).load()  # type: ignore[attr-defined]
        return mod

    def report(self) -> LoadReport:
        for func in self.guards.by_value:
            label, forwards = si.stand_in_label(func)
            if forwards:
                self.note_remap(f"{label} (by value) -> {label} (installed)")
            else:
                self.note_stub(label)
        return LoadReport(method="safe-pickle", stubbed=tuple(self._stubbed), remapped=tuple(self._remapped),
                          fastai_version=_version_from_modules(self._modules))


_SHARED_KINDS = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler lets every opcode be guarded
    """Unpickler whose globals come from a ``_Session`` and whose state-changing opcodes are checked."""

    session: _Session
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:  # Python 2 names, as the stdlib unpickler maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return self.session.find(module, name)

    def _check_target(self, obj: Any, opcode: str) -> None:
        if self.session.is_known(obj) or isinstance(obj, _SHARED_KINDS):
            raise UnsafeModelError(f"its {opcode} opcode would modify {si.describe(obj)}")

    def _check_container(self, obj: Any, opcode: str) -> None:
        """APPEND(S)/SETITEM(S)/ADDITEMS call the target's own ``append``/``extend``/``add``/``__setitem__``."""
        self._check_target(obj, opcode)
        kind = (type(obj).__module__, type(obj).__qualname__)
        if kind not in al.CONTAINER_TARGETS or al.CONTAINER_METHODS & set(_instance_dict(obj)):
            raise UnsafeModelError(f"its {opcode} opcode would run the methods of {si.describe(obj)}")

    def _check_build(self) -> None:
        """BUILD calls ``__setstate__`` as the instance finds it, then ``setattr`` for slot state."""
        inst, state = self.stack[-2], self.stack[-1]
        self._check_target(inst, "BUILD")
        slots = state[1] if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict) else {}
        if "__setstate__" in _instance_dict(inst) or any(not isinstance(k, str) or k.startswith("__")
                                                         for k in slots):
            raise UnsafeModelError(f"its BUILD opcode would set special attributes of {si.describe(inst)}")


def _instance_dict(obj: Any) -> dict:
    """``obj.__dict__`` read without running the object's own attribute hooks (empty when it has none)."""
    try:
        found = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return {}
    return found if isinstance(found, dict) else {}


def _guarded(opcode: bytes, check: Callable[[_RestrictedUnpickler], None]) -> None:
    original = pickle._Unpickler.dispatch[opcode[0]]

    def run(self: _RestrictedUnpickler) -> None:
        check(self)
        original(self)

    _RestrictedUnpickler.dispatch[opcode[0]] = run


def _check_reduce(u: _RestrictedUnpickler) -> None:
    u.session.check_call(u.stack[-2], u.stack[-1])


def _refuse(opcode: str) -> Callable[[_RestrictedUnpickler], None]:
    def check(u: _RestrictedUnpickler) -> None:
        raise UnsafeModelError(f"it uses the {opcode} opcode (pickle protocol 0/1 instances)")
    return check


_guarded(pickle.REDUCE, _check_reduce)
_guarded(pickle.NEWOBJ, lambda u: u.session.check_new(u.stack[-2], u.stack[-1]))
_guarded(pickle.NEWOBJ_EX, lambda u: u.session.check_new(u.stack[-3], u.stack[-2], u.stack[-1]))
_guarded(pickle.INST, _refuse("INST"))
_guarded(pickle.OBJ, _refuse("OBJ"))
_guarded(pickle.BUILD, _RestrictedUnpickler._check_build)
_guarded(pickle.APPEND, lambda u: u._check_container(u.stack[-2], "APPEND"))
_guarded(pickle.SETITEM, lambda u: u._check_container(u.stack[-3], "SETITEM"))
for _op, _name in ((pickle.APPENDS, "APPENDS"), (pickle.SETITEMS, "SETITEMS"), (pickle.ADDITEMS, "ADDITEMS")):
    _guarded(_op, functools.partial(lambda u, nm: u._check_container(u.metastack[-1][-1], nm), nm=_name))
