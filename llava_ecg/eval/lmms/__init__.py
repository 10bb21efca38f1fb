"""lmms-eval integration: the ``llava_ecg`` model, the ECGBench task class and the hooks its YAMLs call.

Importing this package is cheap; ``model`` (torch, llava) and ``task`` (lmms-eval) load only when used.
"""
from llava_ecg.eval.lmms.paths import tasks_path

__all__ = ["tasks_path"]
