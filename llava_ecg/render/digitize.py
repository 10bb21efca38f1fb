"""Reads traces back off a clean rendered page: the calibration proof used by the tests.

For every drawn panel it follows the trace column by column: in each pixel column it finds the vertical runs of
dark (ink) pixels inside the panel's row band, keeps the run nearest to the previous column's value (so lead
labels and neighbouring rows are ignored) and takes its ink-weighted centre. Pixels map back to seconds and
millivolts with the page's own scale, so a wrong 25 mm/s or 10 mm/mV shows up as a scale error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .page import PageGeometry


@dataclass(frozen=True)
class Trace:
    label: str
    t: np.ndarray  # seconds into the record
    mv: np.ndarray


def ink_weight(image: Image.Image) -> np.ndarray:
    """(h, w) float32: how dark a pixel is in *every* channel; coloured grid lines and paper score 0."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    darkness = 255 - rgb.max(axis=2)
    return np.clip(darkness - 60, 0, None).astype(np.float32)


def _follow(weights: np.ndarray, start: float) -> np.ndarray:
    """Per column of ``weights`` (band_h, n_cols), the ink-weighted centre of the run nearest the previous one."""
    out = np.full(weights.shape[1], np.nan)
    prev = start
    for c in range(weights.shape[1]):
        rows = np.flatnonzero(weights[:, c] > 0)
        if rows.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(rows) > 1) + 1
        runs = np.split(rows, breaks)
        dist = [0 if r[0] <= prev <= r[-1] else min(abs(r[0] - prev), abs(r[-1] - prev)) for r in runs]
        run = runs[int(np.argmin(dist))]
        w = weights[run, c]
        prev = float((run * w).sum() / w.sum())
        out[c] = prev
    return out


def digitize(image: Image.Image, geometry: PageGeometry) -> list[Trace]:
    """One ``Trace`` per drawn panel of a clean page (no distortion) rendered with ``geometry``."""
    weights = ink_weight(image)
    baselines = sorted({p.baseline for p in geometry.panels})
    pitch = float(np.min(np.diff(baselines))) if len(baselines) > 1 else geometry.height
    traces = []
    for p in geometry.panels:
        if not p.drawn:
            continue
        top = max(0, int(round(p.baseline - pitch / 2)))
        bottom = min(geometry.height, int(round(p.baseline + pitch / 2)))
        c0 = int(np.ceil(p.x0)) + 2  # skip the column separator
        c1 = min(geometry.width, int(np.floor(p.x1)) - 1)
        ys = _follow(weights[top:bottom, c0:c1], p.baseline - top) + top
        xs = np.arange(c0, c1, dtype=np.float64)
        ok = np.isfinite(ys)
        traces.append(Trace(p.label, p.t0 + (xs[ok] - p.x0) / geometry.px_per_s,
                            (p.baseline - ys[ok]) / geometry.px_per_mv))
    return traces
