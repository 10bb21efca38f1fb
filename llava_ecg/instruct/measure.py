"""Signal-based estimates of basic features, for records without machine measurements.

Deliberately simple and documented rather than clever: R peaks are found on a 5–20 Hz band-passed,
rectified lead (scipy ``find_peaks`` with a 250 ms refractory distance and an adaptive height), the heart
rate is 60 / median RR, rhythm regularity is the RR coefficient of variation (> 0.12 = irregular), and the
frontal QRS axis is ``atan2(net QRS area in aVF, net QRS area in I)`` over ±60 ms around each R peak.
Intervals (PR, QRS, QT) are *not* estimated from the signal: a wrong interval would teach a wrong
answer, so feature questions about intervals are only asked where a machine measured them.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

IRREGULAR_RR_CV = 0.12


def _detection_lead(ecg) -> np.ndarray:
    for name in ("II", "V5", "I"):
        try:
            return np.nan_to_num(ecg.lead(name).astype(np.float64))
        except KeyError:
            continue
    return np.nan_to_num(ecg.signal[:, 0].astype(np.float64))


def r_peaks(ecg) -> np.ndarray:
    """Sample indices of R peaks (may be empty for a flat or too-short record)."""
    x = _detection_lead(ecg)
    fs = float(ecg.fs)
    if x.size < int(2 * fs) or not np.any(x):
        return np.zeros(0, dtype=int)
    high = min(20.0, 0.45 * fs)
    sos = butter(2, [5.0 / (fs / 2), high / (fs / 2)], btype="band", output="sos")
    energy = np.abs(sosfiltfilt(sos, x))
    height = 0.35 * np.percentile(energy, 99.5)
    if height <= 0:
        return np.zeros(0, dtype=int)
    peaks, _ = find_peaks(energy, height=height, distance=max(1, int(0.25 * fs)))
    return peaks


def estimate_features(ecg) -> dict[str, float]:
    """``hr`` (bpm), ``rr_cv`` and ``axis`` (degrees) where they can be estimated; missing keys otherwise."""
    peaks = r_peaks(ecg)
    out: dict[str, float] = {}
    if peaks.size >= 3:
        rr = np.diff(peaks) / float(ecg.fs)
        out["hr"] = float(round(60.0 / float(np.median(rr))))
        out["rr_cv"] = float(np.std(rr) / np.mean(rr))
    try:
        lead_i, lead_avf = ecg.lead("I"), ecg.lead("aVF")
    except KeyError:
        return out
    if peaks.size >= 1:
        half = int(0.06 * ecg.fs)
        area_i = area_avf = 0.0
        for p in peaks:
            lo, hi = max(0, p - half), min(ecg.n_samples, p + half)
            area_i += float(np.nansum(lead_i[lo:hi] - np.nanmedian(lead_i)))
            area_avf += float(np.nansum(lead_avf[lo:hi] - np.nanmedian(lead_avf)))
        if area_i or area_avf:
            out["axis"] = float(round(math.degrees(math.atan2(area_avf, area_i))))
    return out
