"""Signal helpers that return a new ``ECG``: resample, crop/pad, 10-second window, zero-padding removal.

Resampling uses ``scipy.signal.resample_poly`` (polyphase FIR with anti-aliasing; exact for rational
ratios such as 400->500 Hz or 1000->500 Hz, and far cheaper than FFT resampling of long records).
NaN samples are interpolated for the filter and put back as NaN at the nearest new positions.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # ecg.py's ECG methods call these helpers
    from .ecg import ECG

__all__ = ["resample", "crop_or_pad", "window", "strip_zero_padding", "select_leads"]


def _with(ecg: ECG, signal: np.ndarray, fs: float | None = None, leads=None, **meta) -> ECG:
    new_meta = dict(ecg.meta)
    new_meta.update(meta)
    return dataclasses.replace(ecg, signal=signal, fs=fs or ecg.fs, leads=list(ecg.leads if leads is None else leads),
                               meta=new_meta)


def resample(ecg: ECG, fs: float) -> ECG:
    """``ecg`` at sampling rate ``fs`` Hz (same duration)."""
    if not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"target fs must be a positive finite number, got {fs}")
    if float(fs) == float(ecg.fs):
        return _with(ecg, ecg.signal.copy())
    ratio = Fraction(float(fs) / float(ecg.fs)).limit_denominator(1000)
    from scipy.signal import resample_poly

    x = ecg.signal.astype(np.float64)
    nan = ~np.isfinite(x)
    if nan.any():
        x = x.copy()
        idx = np.arange(x.shape[0])
        for j in range(x.shape[1]):
            bad = nan[:, j]
            x[bad, j] = np.interp(idx[bad], idx[~bad], x[~bad, j]) if (~bad).any() else 0.0
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=0)
    n_new = max(1, int(round(ecg.n_samples * float(fs) / float(ecg.fs))))  # never resample to an empty record
    y = y[:n_new]
    if nan.any():
        pos = np.minimum((np.arange(y.shape[0]) * float(ecg.fs) / float(fs)).round().astype(int), ecg.n_samples - 1)
        y[nan[pos]] = np.nan
    return _with(ecg, y.astype(np.float32), fs=float(fs))


def crop_or_pad(ecg: ECG, duration: float, *, align: str = "start", pad_value: float = 0.0) -> ECG:
    """Exactly ``duration`` seconds: crop or pad at the end (``align="start"``), symmetric (``"center"``)."""
    if align not in ("start", "center"):
        raise ValueError(f"align must be 'start' or 'center', got {align!r}")
    n = int(round(duration * ecg.fs))
    if n <= 0:
        raise ValueError(f"duration must give at least one sample, got {duration}")
    cur = ecg.n_samples
    if cur >= n:
        start = 0 if align == "start" else (cur - n) // 2
        return _with(ecg, ecg.signal[start:start + n].copy())
    before = 0 if align == "start" else (n - cur) // 2
    out = np.full((n, ecg.signal.shape[1]), pad_value, dtype=np.float32)
    out[before:before + cur] = ecg.signal
    return _with(ecg, out)


def window(ecg: ECG, duration: float = 10.0, *, start: float | str = 0.0) -> ECG:
    """A ``duration``-second window starting at ``start`` seconds, or the centred one (``start="center"``).

    Records shorter than ``duration`` are padded with zeros at the end.
    """
    n = int(round(duration * ecg.fs))
    if ecg.n_samples <= n:
        return crop_or_pad(ecg, duration)
    if start == "center":
        i0 = (ecg.n_samples - n) // 2
    else:
        i0 = int(round(float(start) * ecg.fs))
        if i0 < 0 or i0 + n > ecg.n_samples:
            raise ValueError(f"window [{start}, {float(start) + duration}] s is outside the record ({ecg.duration:.2f} s)")
    return _with(ecg, ecg.signal[i0:i0 + n].copy(), window_start=i0 / ecg.fs)


def strip_zero_padding(ecg: ECG) -> ECG:
    """Drop leading and trailing samples where every lead is exactly 0 (CODE-15% pads 7 s/10 s to 4096)."""
    nonzero = np.flatnonzero(np.any(ecg.signal != 0, axis=1))
    if nonzero.size == 0:
        return _with(ecg, ecg.signal.copy())
    return _with(ecg, ecg.signal[nonzero[0]:nonzero[-1] + 1].copy())


def select_leads(ecg: ECG, leads) -> ECG:
    """Only ``leads`` (names, case-insensitive), in the given order."""
    leads = [leads] if isinstance(leads, str) else list(leads)
    if not leads:
        raise ValueError("select_leads needs at least one lead name")
    idx = []
    for name in leads:
        matches = [i for i, lead in enumerate(ecg.leads) if lead.lower() == str(name).lower()]
        if not matches:
            raise KeyError(f"lead {name!r} not in {ecg.leads}")
        idx.append(matches[0])
    return _with(ecg, ecg.signal[:, idx].copy(), leads=[ecg.leads[i] for i in idx])
