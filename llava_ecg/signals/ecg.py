"""The one in-memory ECG type every stage shares.

``ECG.signal`` is float32 (n_samples, n_leads) in millivolts, ``ECG.fs`` the sampling rate in Hz and
``ECG.leads`` standard lead names, the 12 standard leads first in the order of ``STANDARD_LEADS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llava_ecg.catalog.leads import STANDARD_LEADS
from llava_ecg.errors import LlavaEcgError

from . import ops

__all__ = ["ECG", "ECGReadError", "STANDARD_LEADS"]


class ECGReadError(LlavaEcgError):
    """A record could not be read. The message names the file and the defect."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def cell_number(value) -> int | float | None:
    """A CSV or header cell as an int or a float; None when blank, NaN or not a number."""
    try:
        f = float(str(value).strip())
    except ValueError:
        return None
    return None if math.isnan(f) else int(f) if f.is_integer() else f


def cell_flag(value) -> bool | None:
    """A CSV cell as a bool (``True``/``False`` text or a number); None when blank or unrecognised."""
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None if value is None or value != value else bool(value)  # NaN: a blank cell


@dataclass
class ECG:
    signal: np.ndarray
    fs: float
    leads: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.signal = np.asarray(self.signal, dtype=np.float32)
        if self.signal.ndim != 2:
            raise ValueError(f"ECG.signal must be 2-D (n_samples, n_leads), got shape {self.signal.shape}")
        if self.signal.shape[1] != len(self.leads):
            raise ValueError(f"ECG has {self.signal.shape[1]} signal columns but {len(self.leads)} lead names")
        if not self.fs or not math.isfinite(self.fs) or self.fs <= 0:
            raise ValueError(f"ECG.fs must be a positive finite number, got {self.fs}")
        self.leads = list(self.leads)

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / float(self.fs)

    @property
    def id(self) -> str:
        return str(self.meta.get("id", ""))

    def lead(self, name: str) -> np.ndarray:
        """One lead's samples (mV), looked up case-insensitively."""
        for i, lead in enumerate(self.leads):
            if lead.lower() == name.lower():
                return self.signal[:, i]
        raise KeyError(f"lead {name!r} not in {self.leads}")

    # Convenience wrappers around llava_ecg.signals.ops (each returns a new ECG).
    def resample(self, fs: float) -> "ECG":
        return ops.resample(self, fs)

    def crop_or_pad(self, duration: float, *, align: str = "start") -> "ECG":
        return ops.crop_or_pad(self, duration, align=align)

    def window(self, duration: float = 10.0, *, start: float | str = 0.0) -> "ECG":
        return ops.window(self, duration, start=start)

    def strip_zero_padding(self) -> "ECG":
        return ops.strip_zero_padding(self)

    def select_leads(self, leads) -> "ECG":
        return ops.select_leads(self, leads)
