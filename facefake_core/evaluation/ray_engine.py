"""The ray engine: the same evaluation as the local engine, spread over a Ray cluster with Ray Data.

The pipeline is Ray Data's batch-inference shape (`docs.ray.io/en/latest/data/batch_inference.html`):

1. the driver (:func:`facefake_core.evaluation.runner.evaluate`) hashes the files and keeps only the images whose
   rows the store lacks; they become a Dataset of ``(path, sha, known focus measures)``;
2. CPU tasks (``map_batches`` with a function) read, decode and preprocess each image and measure its focus
   (the runner's ``_prepare``, unchanged);
3. a fixed pool of actors (``map_batches`` with a callable class) holds the model, loaded once per actor, one GPU
   each when the cluster has GPUs, and runs each batch through the runner's ``_run_batch``, unchanged;
4. each batch's result comes back to the driver (``iter_rows``), which alone writes the SQLite store, one
   transaction per batch, exactly as the local engine does (:func:`stream` yields what the local lanes yield).

**Loading on workers unpickles nothing.** The driver writes the loaded model in the converted format
(:func:`facefake_core.model.convert`: safetensors weights plus a JSON description) and puts those two files' bytes
in Ray's object store; each actor rebuilds the network from them with :func:`~facefake_core.model.load_converted`.
So workers need no copy of the model file and no shared disk, and a worker never runs a pickle's code, even when
the driver was allowed to (``--trust-pickle``). Models that the converted format cannot describe (non-ResNet
bodies) are shipped as their original ``.pkl`` and read on the worker by the safe loader
(:mod:`facefake_core.safeload`), which refuses what it does not allow.

**Faults.** Ray Data's actor pools run with Ray's documented actor fault tolerance on by default
(``max_restarts=-1``, ``max_task_retries=-1``; ``tests/evaluation/test_ray_engine.py`` checks it): a worker that dies
is restarted and its batch is run again. A batch's rows reach the
store only once, when the driver receives them; a driver that dies loses only the batches it had not yet written,
and the next run's hashing finds the rest in the store.

Ray is imported lazily: the rest of the package works without it. ``pip install "ray[data]==2.60.0"`` adds it.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import EngineError, ModelLoadError
from ..model import Model, Preprocessing, convert, load_converted, load_file
from .lanes import Batch

RAY_PIN = "ray[data]==2.60.0"
PREP_CPUS = 0.25  # CPU share a decode/focus task reserves next to model actors on a CPU-only cluster
CRASH_ONCE = "FACEFAKE_TEST_RAY_CRASH_ONCE"  # tests only: a marker path; the first actor to see it missing dies


def available() -> bool:
    """Whether Ray Data can be imported here (the dashboard offers the engine only then)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _ray():
    # Ray Data's progress bars replace builtins.print with their own (ray.experimental.tqdm_ray.safe_print) unless
    # told not to; a learner pickled afterwards in this process would then name that function, and the safe loader
    # rightly refuses it. Ours are off anyway (see connect).
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is a separate extra of the ray package
    except ImportError:
        raise EngineError(f'the ray engine needs Ray Data: pip install "{RAY_PIN}"') from None
    return ray


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Fail at once on a ``HOST:PORT`` nobody answers at: ``ray.init`` would retry for minutes. Other forms
    (``auto``, ``ray://...``) are left to Ray."""
    import socket

    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise EngineError(f"no Ray cluster answers at {address} ({err.strerror or type(err).__name__}); start one "
                          "with `ray start --head`, or check --address / RAY_ADDRESS") from None


def connect(address: str | None = None):
    """The ``ray`` module, connected: to ``address`` (or ``$RAY_ADDRESS``) when given, else to a new local instance
    sized to this machine, without Ray's dashboard. An already connected process keeps its connection.

    Ray's own progress bars and info lines are turned off: the caller draws its own progress, and ``--json``
    output stays clean.

    Raises:
        EngineError: Ray is not installed, or the cluster cannot be reached.
    """
    ray = _ray()
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False if address is None else None, log_to_driver=False,
                     logging_level=logging.ERROR, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise EngineError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return ray


def _package(model: Model) -> dict[str, bytes]:
    """What a worker needs to rebuild ``model`` without unpickling: the converted format's files, or the safe
    loader's ``.pkl`` for bodies the converted format does not describe."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = convert(model, Path(tmp) / "model")
        except ModelLoadError:
            if not Path(model.info.path).is_file():
                raise
            return {"model.pkl": Path(model.info.path).read_bytes()}
        return {p.name: p.read_bytes() for p in folder.iterdir()}


def _load(files: dict[str, bytes], folder: Path, device: str) -> Model:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    if "model.pkl" in files:
        return load_file(folder / "model.pkl", device=device)  # the safe loader: trust stays False
    return load_converted(folder, source="ray-worker", device=device)


class _Opaque:
    """A value Ray Data carries as a Python object, untouched (it would turn a bare tuple into an array)."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def __reduce__(self):
        return _Opaque, (self.value,)


@functools.lru_cache(maxsize=4)
def _prep_only(prep_json: str):
    """A stand-in for the model in ``_prepare``, which uses only its preprocessing (rebuilt once per process)."""
    import json
    from types import SimpleNamespace

    return SimpleNamespace(prep=Preprocessing.from_dict(json.loads(prep_json)))


def _prepare_batch(batch: dict, prep_json: str, with_focus: bool, prepare: Callable) -> dict:
    """CPU task: the runner's per-image work (``prepare``) on each image of a Ray batch; its results travel on as
    objects."""
    shim = _prep_only(prep_json)
    out = np.empty(len(batch["path"]), dtype=object)
    for i, (path, known) in enumerate(zip(batch["path"], batch["known"])):
        out[i] = _Opaque(prepare(shim, str(path), with_focus, known.value))
    return {"path": batch["path"], "sha": batch["sha"], "prepared": out}


class _Evaluator:
    """Actor: loads the model once, then runs the runner's ``_run_batch`` on each batch of prepared images and
    returns one row holding ``(batch, result)``, which the driver stores as the local engine would."""

    def __init__(self, files_ref, run_batch: Callable, with_cam: bool, gpu: bool, crash_marker: str | None = None,
                 precision: str = "fp32", compiled: bool = False) -> None:
        import ray
        import torch

        if not gpu:
            torch.set_num_threads(1)  # one thread per actor, as in the local engine's CPU lanes
        files = files_ref if isinstance(files_ref, dict) else ray.get(files_ref)
        self._tmp = tempfile.TemporaryDirectory()
        # The driver's opt-in precision / compile too, so the rows stored under its sha suffix are what it says.
        self.model = _load(files, Path(self._tmp.name) / "model", "cuda" if gpu else "cpu").variant(precision, compiled)
        self.split = self.model.split() if with_cam else None
        self.crash_marker, self.run_batch = crash_marker, run_batch

    def __call__(self, batch: dict) -> dict:
        if self.crash_marker and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).write_text(str(os.getpid()))
            os._exit(1)  # a worker killed mid-batch (tests): Ray restarts the actor and retries the batch
        b: Batch = [(str(p), str(h)) for p, h in zip(batch["path"], batch["sha"])]
        out = np.empty(1, dtype=object)
        out[0] = _Opaque((b, self.run_batch(self.model, self.split, b, [p.value for p in batch["prepared"]])))
        return {"out": out}


def _sizes(ray) -> tuple[int, float, float, float]:
    """``(actors, cpus per actor, gpus per actor, cpus per preparing task)`` for the cluster: one actor per GPU
    when there are GPUs; else one per CPU, each leaving :data:`PREP_CPUS` of its core to the decoding tasks."""
    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))
    if gpus:
        return gpus, 1.0, 1.0, 1.0
    return cpus, 1.0 - PREP_CPUS, 0.0, PREP_CPUS


def stream(model: Model, todo: list[tuple[str, str]], known: dict, *, prepare: Callable, run_batch: Callable,
           batch_size: int, with_cam: bool, with_focus: bool,
           address: str | None = None) -> Iterator[tuple[Batch, tuple]]:
    """``(batch, result of _run_batch)`` for every batch of ``todo`` (``(path, sha)`` pairs), computed on Ray, in
    the order they finish: what the local engine's lanes yield, so the driver's store writes are the same.

    Args:
        model: the driver's model; workers get it through the converted format (see the module docstring).
        todo: the images to compute, each content once.
        known: sha -> FocusMeasures already stored (measured for another model): not measured again.
        prepare, run_batch: the local engine's per-image and per-batch work (the runner's ``_prepare`` and
            ``_run_batch``), run unchanged in the CPU tasks and the actors; Ray ships them by reference, so this
            module never imports the runner that calls it.
        batch_size: images per model batch.
        with_cam, with_focus: as in :func:`~facefake_core.evaluation.runner.evaluate`.
        address: a Ray cluster (``HOST:6379``); ``None`` uses ``$RAY_ADDRESS`` or starts a local instance.

    Raises:
        EngineError: Ray is missing or unreachable.
    """
    import json

    ray = connect(address)
    if not todo:
        return
    actors, actor_cpus, actor_gpus, prep_cpus = _sizes(ray)
    items = [{"path": p, "sha": h, "known": _Opaque(known.get(h))} for p, h in todo]
    # about 32 blocks per actor (never fewer than one batch each): enough for the CPU tasks to spread over the
    # cluster, small enough that a block of prepared images (~200 KB each at 256 px) stays under Ray's block size
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // batch_size, 32 * actors)))
    ds = ds.map_batches(_prepare_batch, batch_size=batch_size, batch_format="numpy", num_cpus=prep_cpus,
                        fn_kwargs={"prep_json": json.dumps(model.prep.to_dict()), "with_focus": with_focus,
                                   "prepare": prepare})
    ds = ds.map_batches(_Evaluator, batch_size=batch_size, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=min(actors, -(-len(items) // batch_size))),
                        num_cpus=actor_cpus, num_gpus=actor_gpus or None,
                        fn_constructor_kwargs={"files_ref": ray.put(_package(model)), "run_batch": run_batch,
                                               "with_cam": with_cam,
                                               "gpu": actor_gpus > 0, "precision": model.info.precision,
                                               "compiled": model.info.compiled,
                                               "crash_marker": os.environ.get(CRASH_ONCE) or None})
    for row in ds.iter_rows():
        yield row["out"].value
