"""Signal-based estimates of basic features, for records without machine measurements.

Deliberately simple and documented rather than clever: QRS complexes are found on the sum over all leads
of the 5–20 Hz band-passed, rectified signal (so wide ectopic beats that are small in one lead are still
seen; scipy ``find_peaks`` with a 250 ms refractory distance and a height of 0.3 x the 99.5th
percentile), the heart
rate is 60 / median RR, rhythm regularity is the RR coefficient of variation (> 0.12 = irregular), and the
frontal QRS axis is ``atan2(net QRS area in aVF, net QRS area in I)`` over ±60 ms around each QRS (median
over beats, so a few ectopic beats do not move it).
Intervals (PR, QRS, QT) are *not* estimated from the signal: a wrong interval would teach a wrong
answer, so feature questions about intervals are only asked where a machine measured them.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

IRREGULAR_RR_CV = 0.12


_DETECTION_LEADS = ("I", "II", "V1", "V2", "V5")  # limb + right and left precordial: every QRS shows in some


def r_peaks(ecg) -> np.ndarray:
    """Sample indices of QRS complexes (empty for a flat or too-short record)."""
    cols = [i for i, name in enumerate(ecg.leads) if name in _DETECTION_LEADS] or list(range(ecg.signal.shape[1]))
    x = np.nan_to_num(np.asarray(ecg.signal[:, cols], dtype=np.float64))
    fs = float(ecg.fs)
    if x.shape[0] < int(2 * fs) or not np.any(x):
        return np.zeros(0, dtype=int)
    high = min(20.0, 0.45 * fs)
    sos = butter(2, [5.0 / (fs / 2), high / (fs / 2)], btype="band", output="sos")
    energy = np.abs(sosfiltfilt(sos, x, axis=0)).sum(axis=1)
    height = 0.3 * np.percentile(energy, 99.5)
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
        out["hr"] = float(round(60.0 / float(np.mean(rr))))  # beats per minute, also right for irregular rhythms
        out["rr_cv"] = float(np.std(rr) / np.mean(rr))
    try:
        lead_i, lead_avf = ecg.lead("I"), ecg.lead("aVF")
    except KeyError:
        return out
    if peaks.size >= 1:
        # per-beat net QRS areas; the median over beats ignores a minority of ectopic beats
        half = int(0.06 * ecg.fs)
        base_i, base_avf = np.nanmedian(lead_i), np.nanmedian(lead_avf)
        areas = np.array([(float(np.nansum(lead_i[max(0, p - half):p + half] - base_i)),
                           float(np.nansum(lead_avf[max(0, p - half):p + half] - base_avf))) for p in peaks])
        area_i, area_avf = np.median(areas, axis=0)
        if area_i or area_avf:
            out["axis"] = float(round(math.degrees(math.atan2(area_avf, area_i))))
    return out
