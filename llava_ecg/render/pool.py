"""The one process pool for rendering (``llava-ecg render`` and ``build --render`` both use it).

Rendering is CPU-bound Python/NumPy, so processes, not threads. Workers start with ``forkserver`` (not ``fork``:
a parent that already drew a page holds OpenCV's thread-pool locks, and forked children can deadlock in their first
warp) and run OpenCV single-threaded, so N workers use N cores instead of N x all of them.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def _worker_init(initializer: Callable | None, initargs: tuple) -> None:
    try:
        import cv2
    except ImportError:  # a custom render function may not need OpenCV
        pass
    else:
        cv2.setNumThreads(1)
    if initializer is not None:
        initializer(*initargs)


def process_map(fn: Callable[[Any], Any], items: Iterable, *, workers: int = 1, initializer: Callable | None = None,
                initargs: tuple = (), ordered: bool = True, chunksize: int = 4) -> Iterator:
    """``map(fn, items)`` in ``workers`` processes (in this process when ``workers <= 1``); results stream back
    in order, or as they finish with ``ordered=False``."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(fn, items)
        return
    ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
    with ctx.Pool(workers, _worker_init, (initializer, initargs)) as pool:
        yield from (pool.imap if ordered else pool.imap_unordered)(fn, items, chunksize=chunksize)
