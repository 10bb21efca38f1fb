"""Signals the render tests draw: exact waveforms for calibration, synthetic 12-leads for realism."""
from __future__ import annotations

import numpy as np
import pytest

from llava_ecg.signals.ecg import ECG, STANDARD_LEADS


def waveform_ecg(kind: str = "sine", *, fs: float = 500.0, duration: float = 10.0, amplitude: float = 1.0,
                 leads=STANDARD_LEADS, meta=None) -> ECG:
    """Every lead the same known waveform: a 1 Hz sine, or a 1 Hz square wave between +A and -A/2."""
    t = np.arange(int(round(duration * fs))) / fs
    if kind == "sine":
        wave = amplitude * np.sin(2 * np.pi * t)
    elif kind == "square":
        wave = np.where((t % 1.0) < 0.5, amplitude, -amplitude / 2)
    else:
        raise ValueError(kind)
    signal = np.repeat(wave[:, None], len(leads), axis=1).astype(np.float32)
    return ECG(signal, fs, list(leads), dict(meta or {"id": f"{kind}-{fs:g}"}))


def synthetic_ecg(**kwargs) -> ECG:
    """A realistic 12-lead from the signals stage; a harmonic stand-in if that module is unavailable."""
    try:
        from llava_ecg.signals.synthetic import synthesize
    except ImportError:  # pragma: no cover - the signals stage ships it
        fs = kwargs.get("fs", 500)
        duration = kwargs.get("duration", 10.0)
        t = np.arange(int(duration * fs)) / fs
        base = 0.1 * np.sin(2 * np.pi * 1.2 * t) + np.exp(-((t % 0.8) - 0.3) ** 2 / 2e-4)
        sig = np.stack([base * (1 - 0.1 * i) for i in range(12)], 1)
        return ECG(sig, fs, list(STANDARD_LEADS), {"id": "fallback"})
    return synthesize(kwargs.pop("rhythm", "sinus"), **kwargs)


@pytest.fixture(scope="session")
def sinus() -> ECG:
    return synthetic_ecg(seed=1)
