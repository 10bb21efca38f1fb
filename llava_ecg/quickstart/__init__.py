"""The CPU quickstart (``llava-ecg quickstart`` / ``make quickstart``): every stage of the plugin, end to end.

Public entry: :func:`run_quickstart` with a :class:`QuickstartConfig`.
"""
from .config import QuickstartConfig
from .pipeline import run_quickstart

__all__ = ["QuickstartConfig", "run_quickstart"]
