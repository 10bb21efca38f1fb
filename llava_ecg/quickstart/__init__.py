"""The CPU quickstart (``llava-ecg quickstart`` / ``make quickstart``): every stage of the plugin, end to end.

Public entry: :func:`run_quickstart` with a :class:`QuickstartConfig`.
"""
__all__ = ["QuickstartConfig", "run_quickstart"]


def __getattr__(name: str):  # lazy: `llava-ecg --help` imports this package's commands, not its numpy/scipy pipeline
    if name in __all__:
        from . import config, pipeline

        return getattr(config if name == "QuickstartConfig" else pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
