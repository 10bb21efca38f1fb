"""Pre-render images for ``--render`` builds: a process pool, atomic writes, existing files skipped.

Rendering is CPU-bound Python/NumPy, so a ``multiprocessing`` pool (not threads) is used; jobs go out in
order with ``imap`` so progress is smooth and memory bounded. A file that already exists is never redrawn,
which is what makes a killed render build resumable.

The pool is the render stage's (:func:`llava_ecg.render.pool.process_map`).
"""
from __future__ import annotations

import os
from pathlib import Path

from tqdm.auto import tqdm

from llava_ecg.render.pool import process_map

from . import io as rio

_RENDER_FN = None


def default_render(ecg, spec: dict) -> bytes:
    """``ECG + RenderSpec dict -> encoded bytes`` with the render stage (palette PNG clean, JPEG distorted)."""
    from llava_ecg.render import encode_image, render

    return encode_image(render(ecg, spec), spec)


def _init(render_fn):
    global _RENDER_FN
    _RENDER_FN = render_fn


def _one(job) -> str:
    path = Path(job["dest"])
    if not path.exists():
        data = (_RENDER_FN or default_render)(job["ecg"], job["spec"])
        with rio.atomic_open(path, "wb") as fh:
            fh.write(data)
    return str(path)


def render_jobs(jobs: list[dict], image_root, *, workers: int = 1, render_fn=None, progress: bool = True) -> int:
    """Render ``[{"path": rel, "spec": dict, "ecg": ECG}]`` under ``image_root``; returns the number drawn."""
    root = Path(image_root)
    todo = [dict(job, dest=str(root / job["path"])) for job in jobs if not (root / job["path"]).exists()]
    if not todo:
        return 0
    workers = max(1, min(workers, len(todo), os.cpu_count() or 1))
    bar = tqdm(total=len(todo), desc="render", unit="img", disable=not progress, leave=False)
    for _ in process_map(_one, todo, workers=workers, initializer=_init, initargs=(render_fn,)):
        bar.update(1)
    bar.close()
    return len(todo)
