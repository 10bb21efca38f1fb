"""The one process pool for rendering (``llava-ecg render`` and ``build --render`` both use it).

Rendering is CPU-bound Python/NumPy, so processes, not threads. Workers start with ``forkserver`` (not ``fork``:
a parent that already drew a page holds OpenCV's thread-pool locks, and forked children can deadlock in their first
warp) and run OpenCV single-threaded, so N workers use N cores instead of N x all of them. One worker means the
calling process, also with OpenCV on one thread for the run: its pool of threads otherwise spins on every small
op and, on a busy machine, costs more CPU than it saves (a clean page through ``llava-ecg render`` took ~2x the CPU
time of the same page on one thread).

Both paths also ask glibc to keep freed buffers (``retain_freed_memory``): a page passes through a dozen
full-size (11-15 MB) arrays, which glibc otherwise unmaps on free and faults back in, zeroed, on the next
allocation — ~8k page faults and ~40 ms of system time per distorted page, a fifth of its cost.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def _cv2():
    try:
        import cv2
    except ImportError:  # a custom render function may not need OpenCV
        return None
    return cv2


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def retain_freed_memory() -> bool:
    """Serve large arrays from the heap and keep freed ones for reuse instead of returning them to the kernel.

    glibc only (elsewhere a no-op returning False). The process keeps up to its peak working set (a few hundred
    MB for a page pipeline) until it exits. 32 MB is glibc's ceiling for the mmap threshold.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 512 << 20))


def _worker_init(initializer: Callable | None, initargs: tuple) -> None:
    retain_freed_memory()
    cv2 = _cv2()
    if cv2 is not None:
        cv2.setNumThreads(1)
    if initializer is not None:
        initializer(*initargs)


def process_map(fn: Callable[[Any], Any], items: Iterable, *, workers: int = 1, initializer: Callable | None = None,
                initargs: tuple = (), ordered: bool = True, chunksize: int = 4) -> Iterator:
    """``map(fn, items)`` in ``workers`` processes (in this process when ``workers <= 1``); results stream back
    in order, or as they finish with ``ordered=False``."""
    if workers <= 1:
        retain_freed_memory()
        cv2 = _cv2()
        threads = cv2.getNumThreads() if cv2 is not None else None
        if cv2 is not None:
            cv2.setNumThreads(1)
        try:
            if initializer is not None:
                initializer(*initargs)
            yield from map(fn, items)
        finally:  # the caller's own OpenCV setting comes back
            if cv2 is not None:
                cv2.setNumThreads(threads)
        return
    ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
    with ctx.Pool(workers, _worker_init, (initializer, initargs)) as pool:
        yield from (pool.imap if ordered else pool.imap_unordered)(fn, items, chunksize=chunksize)
