"""The optional printed header: identification, demographics and machine measurements from ``ECG.meta``.

Printed numbers can become a shortcut a model reads instead of the trace (the PULSE paper notes this), so the
header is off unless asked for. Missing keys are left out rather than printed as blanks.
"""
from __future__ import annotations

from typing import Any, Mapping

# meta key (first one present wins) -> printed label and unit
_FIELDS = (
    (("id", "record", "ecg_id"), "ID", ""),
    (("date", "recording_date", "recorded_at", "ecg_time", "datetime"), "Date", ""),  # PTB-XL, WFDB/Challenge, MIMIC
    (("age",), "Age", ""),
    (("sex",), "Sex", ""),
    (("hr", "heart_rate"), "HR", " bpm"),
    (("pr",), "PR", " ms"),
    (("qrs",), "QRS", " ms"),
    (("qt",), "QT", " ms"),
    (("qtc",), "QTc", " ms"),
    (("axis", "qrs_axis"), "Axis", "°"),
)
_SEX = {"m": "M", "male": "M", "0": "M", "f": "F", "female": "F", "1": "F"}


def _value(meta: Mapping[str, Any], keys) -> Any:
    for key in keys:
        value = meta.get(key)
        if value is not None and value != "" and value == value:  # skips None, "" and NaN
            return value
    return None


def _format(label: str, value: Any, unit: str) -> str:
    if label == "Sex":
        value = _SEX.get(str(value).strip().lower(), value)
    elif isinstance(value, float):
        value = f"{value:.0f}"
    return f"{label}: {value}{unit}"


def header_lines(meta: Mapping[str, Any]) -> list[str]:
    """Up to three lines: identification, demographics, measurements."""
    items = {label: _format(label, v, unit) for keys, label, unit in _FIELDS
             if (v := _value(meta, keys)) is not None}
    groups = (("ID", "Date"), ("Age", "Sex"), ("HR", "PR", "QRS", "QT", "QTc", "Axis"))
    lines = ["    ".join(items[k] for k in group if k in items) for group in groups]
    return [line for line in lines if line]
