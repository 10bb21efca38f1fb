"""The ``lmms_eval.models`` entry point of llava-ecg; lmms-eval imports it at start-up.

Importing it (1) applies :mod:`llava_ecg.compat` so upstream LLaVA generates on today's stacks, (2) registers the
ECGBench task folder with lmms-eval's ``TaskManager`` (:func:`llava_ecg.eval.lmms.paths.register_task_path`), and
(3) exposes ``MANIFESTS``, which registers the ``llava_ecg`` model.
"""
from __future__ import annotations

from lmms_eval.models.registry_v2 import ModelManifest
from loguru import logger

from llava_ecg.eval.lmms.paths import register_task_path

try:
    from llava_ecg import compat

    compat.install()
except ImportError as exc:  # llava-torch missing: other lmms-eval models must keep working
    logger.warning(f"llava-ecg: upstream LLaVA unavailable ({exc}); the llava_ecg model will not load")

register_task_path()

MANIFESTS = [ModelManifest(model_id="llava_ecg", simple_class_path="llava_ecg.eval.lmms.model.LlavaEcg")]
