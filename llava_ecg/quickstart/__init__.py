"""The CPU quickstart (``llava-ecg quickstart`` / ``make quickstart``): every stage of the plugin, end to end.

Public entry: :func:`run_quickstart` with a :class:`QuickstartConfig`.
"""
from .pipeline import QuickstartConfig, run_quickstart

__all__ = ["QuickstartConfig", "run_quickstart"]
