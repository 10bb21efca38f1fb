"""Reads traces back off a clean rendered page: the calibration proof used by the tests.

For every drawn panel it follows the trace column by column: in each pixel column it finds the vertical runs of
dark (ink) pixels inside the panel's row band (lead labels masked out by their recorded boxes), keeps the run
nearest to the previous column's value (so neighbouring rows' excursions are ignored) and takes its
ink-weighted centre. Pixels map back to seconds and millivolts with the page's own scale, so a wrong 25 mm/s or 10 mm/mV shows up as a scale error.
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


def _follow(weights: np.ndarray, start: float, max_jump: float) -> np.ndarray:
    """Per column of ``weights`` (band_h, n_cols), the ink-weighted centre of the run nearest the previous one.

    A run further than ``max_jump`` px from the previous centre is not the trace (text, another row) unless the
    trace has been lost for a while (a gap in the signal), then the nearest run is taken again.
    """
    out = np.full(weights.shape[1], np.nan)
    prev, lost = start, 0
    for c in range(weights.shape[1]):
        rows = np.flatnonzero(weights[:, c] > 0)
        if rows.size == 0:
            lost += 1
            continue
        breaks = np.flatnonzero(np.diff(rows) > 1) + 1
        runs = np.split(rows, breaks)
        dist = [0 if r[0] <= prev <= r[-1] else min(abs(r[0] - prev), abs(r[-1] - prev)) for r in runs]
        best = int(np.argmin(dist))
        if dist[best] > max_jump and lost < 8 and c > 0:
            lost += 1
            continue
        run = runs[best]
        w = weights[run, c]
        prev, lost = float((run * w).sum() / w.sum()), 0
        out[c] = prev
    return out


def digitize(image: Image.Image, geometry: PageGeometry) -> list[Trace]:
    """One ``Trace`` per drawn panel of a clean page (no distortion) rendered with ``geometry``."""
    weights = ink_weight(image)
    for p in geometry.panels:  # printed lead labels are not trace
        if p.label_box:
            x0, y0, x1, y1 = p.label_box
            weights[max(0, y0 - 1): y1 + 1, max(0, x0 - 1): x1 + 1] = 0
    pitch = geometry.row_pitch
    traces = []
    for p in geometry.panels:
        if not p.drawn:
            continue
        top = max(0, int(round(p.baseline - 0.6 * pitch)))
        bottom = min(geometry.height, int(round(p.baseline + 0.4 * pitch)))
        c0 = int(np.ceil(p.x0)) + 2  # skip the column separator
        c1 = min(geometry.width, int(np.floor(p.x1)) - 1)
        ys = _follow(weights[top:bottom, c0:c1], p.baseline - top, 3 * geometry.px_per_mm) + top
        xs = np.arange(c0, c1, dtype=np.float64)
        ok = np.isfinite(ys)
        traces.append(Trace(p.label, p.t0 + (xs[ok] - p.x0) / geometry.px_per_s,
                            (p.baseline - ys[ok]) / geometry.px_per_mv))
    return traces
