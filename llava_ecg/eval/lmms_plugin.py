"""The ``lmms_eval.models`` entry point of llava-ecg; lmms-eval imports it at start-up.

Importing it (1) applies :mod:`llava_ecg.compat` so upstream LLaVA generates on today's stacks — only where upstream
LLaVA is installed (the training install): in an eval-only environment nothing of the user's stack is patched;
(2) registers the ECGBench task folder with lmms-eval's ``TaskManager``
(:func:`llava_ecg.eval.lmms.paths.register_task_path`), and (3) exposes ``MANIFESTS``, which registers the
``llava_ecg`` model (it needs upstream LLaVA: ``pip install llava-ecg[train]`` + ``llava-torch --no-deps``).
"""
from __future__ import annotations

import importlib.util

from lmms_eval.models.registry_v2 import ModelManifest

from llava_ecg.eval.lmms.paths import register_task_path



def _has_llava() -> bool:
    try:
        return importlib.util.find_spec("llava") is not None
    except (ImportError, ValueError):  # an import hook that refuses it counts as absent
        return False


if _has_llava():
    from llava_ecg import compat

    compat.install()

register_task_path()

MANIFESTS = [ModelManifest(model_id="llava_ecg", simple_class_path="llava_ecg.eval.lmms.model.LlavaEcg")]
