"""Where the ECGBench task YAMLs live, and the hook that makes lmms-eval find them without ``--include_path``.

lmms-eval 0.7.3 indexes tasks in ``TaskManager.initialize_tasks(include_path, ...)``; its ``LMMS_EVAL_PLUGINS``
task hook adds plugin folders only after the ``TaskManager`` is built, so it never finds them
(docs/upstream.md). Our ``lmms_eval.models`` entry point is imported before that (lmms-eval
loads model entry points when ``lmms_eval.models`` is imported, which its evaluator does at import time), so
:func:`register_task_path` wraps ``initialize_tasks`` to append our folder to whatever include path it gets. Paths
the user passes come first, so a user's edited copy of a task wins over ours.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path


def tasks_path() -> Path:
    """The installed ``lmms_eval_tasks`` folder (pass it to ``lmms-eval --include_path``)."""
    spec = importlib.util.find_spec("lmms_eval_tasks")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0]).resolve()
    # An editable install made before lmms_eval_tasks became a package maps only llava_ecg: use the checkout.
    beside = Path(__file__).resolve().parents[3] / "lmms_eval_tasks"
    if (beside / "ecgbench").is_dir():
        return beside
    raise FileNotFoundError("lmms_eval_tasks is not installed with llava-ecg (reinstall the package)")


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def register_task_path() -> None:
    """Make every lmms-eval ``TaskManager`` index our tasks too (idempotent)."""
    from lmms_eval.tasks import TaskManager

    original = TaskManager.initialize_tasks
    if getattr(original, "_llava_ecg", False):
        return
    ours = str(tasks_path())

    @functools.wraps(original)
    def initialize_tasks(self, include_path=None, include_defaults=True):
        paths = [include_path] if isinstance(include_path, (str, os.PathLike)) else list(include_path or [])
        paths = [str(p) for p in paths]
        if not any(_same(p, ours) for p in paths):
            paths.append(ours)
        return original(self, include_path=paths, include_defaults=include_defaults)

    initialize_tasks._llava_ecg = True
    TaskManager.initialize_tasks = initialize_tasks
