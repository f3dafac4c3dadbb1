"""Running batches of images through the model: in parallel single-threaded lanes on the CPU, or one model thread
fed by decoding threads on an accelerator (and with ``lanes=1``). What a batch *is* for is the caller's business:
each stream takes ``run(batch, prepared)``, which does the model work of one batch and returns what the caller
stores, and ``prepare(path, sha)``, the per-image CPU work.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator

import torch

Batch = list[tuple[str, str]]  # (path, sha256) of each image
Prepare = Callable[[str, str], Any]
RunBatch = Callable[[Batch, list], Any]


def pipelined(run: RunBatch, batches: Iterator[Batch], prepare: Prepare, pool: ThreadPoolExecutor) -> Iterator:
    """One model thread; the pool decodes one batch ahead of it (accelerators, a one-thread CPU, ``lanes=1``)."""
    pending: deque[tuple[Batch, list[Future]]] = deque()

    def submit() -> None:
        b = next(batches, None)
        if b is not None:
            pending.append((b, [pool.submit(prepare, p, h) for p, h in b]))

    submit(), submit()
    while pending:
        batch, futures = pending.popleft()
        submit()
        yield batch, run(batch, [f.result() for f in futures])


def in_lanes(run: RunBatch, batches: Iterator[Batch], prepare: Prepare, lanes: int, threads: int) -> Iterator:
    """CPU: ``lanes`` threads, each decoding its own batch and then running it with ``threads`` torch threads.

    Nothing runs beside a lane's forward pass but the other lanes, so no core is oversubscribed, and batches in
    parallel use the cores better than one batch split across them (``benchmarks/ceiling.py``). Results come back
    to the calling thread, which stores them; an error in a lane is raised there once the others have finished
    their batches (which are handed on and stored). torch's thread count is per thread once set, but a thread that
    first uses torch while the lanes run starts with ``threads``; the caller's count is restored at the end.
    """
    take, results, stop = threading.Lock(), queue.Queue(), threading.Event()

    def lane() -> None:
        try:
            torch.set_num_threads(threads)
            while not stop.is_set():
                with take:
                    batch = next(batches, None)
                if batch is None:
                    break
                prepared = [prepare(p, h) for p, h in batch]
                results.put((batch, run(batch, prepared)))
        except BaseException as err:  # noqa: BLE001 - handed to the caller, which raises it
            results.put(err)
        finally:
            results.put(None)

    caller_threads = torch.get_num_threads()
    workers = [threading.Thread(target=lane, name=f"facefake-lane-{i}", daemon=True) for i in range(lanes)]
    for w in workers:
        w.start()
    try:
        running, error = lanes, None
        while running:
            item = results.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                error = error or item
                stop.set()  # the other lanes finish their batch, which is still handed on and stored
            else:
                yield item
        if error is not None:
            raise error
    finally:
        stop.set()
        for w in workers:
            w.join()
        torch.set_num_threads(caller_threads)


def batches_of(todo: list[tuple[str, str]], size: int) -> Iterator[Batch]:
    for i in range(0, len(todo), size):
        yield todo[i : i + size]


def decode_workers() -> int:
    """Decoding threads beside a single model thread (accelerators; a CPU given one torch thread): half the cores,
    1 to 4. Also the hashing threads."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def cpu_lanes(threads: int | None = None, lanes: int | None = None) -> tuple[int, int]:
    """``(lanes, torch threads per lane)`` for evaluating on the CPU with ``threads`` torch threads in all (default:
    the caller's count): one lane per thread, at most 4 (or ``lanes``), the threads shared out among them.

    Measured on 2 cores (ResNet50, 256 px, batch 4, ``benchmarks/ceiling.py``): two single-threaded lanes forward
    10-30% more images per second than one batch at a time on both threads, and decoding inside the lanes costs
    only its own CPU time.
    """
    total = threads or torch.get_num_threads()
    n = max(1, min(total, lanes or 4))
    return n, max(1, total // n)
