"""instruct stage: ECGInstruct-style training rows and ECGBench-style test sets from raw records.

Public entry points::

    build_instruct(records, out_dir, BuildConfig(...))   # (record_ref, ECG or loader) pairs -> rows + manifest
    build_bench(subset, records, out_dir, ...)          # ECGBench-format test set
    validate_rows(path, image_root=None)                # streaming schema check + counts
    decontamination_report(train_manifest, tests)       # records/patients shared by train and test

Task families x formats live in :mod:`.tasks` (``@task(family, fmt)``), label spaces in :mod:`.labels`, the
one adapter from ``ECG.meta`` to question facts in :mod:`.facts`.
"""
import importlib

_EXPORTS = {
    "BuildConfig": ".build", "BuildResult": ".build", "build_instruct": ".build", "build_bench": ".bench",
    "validate_rows": ".validate", "check_row": ".validate", "decontamination_report": ".decontam",
    "record_key": ".decontam", "TASKS": ".tasks", "task": ".tasks",
}
__all__ = list(_EXPORTS)


def __getattr__(name):  # lazy, so `llava-ecg --help` does not import the builders
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
