"""Measure an ECG page's style from its pixels: grid, trace, calibration pulses, separators, labels, text.

Used to compare our styles with ECG-Image-Kit's images (``benchmarks/eik/style_audit.py``) and by the tests of
the ``eik`` style, which check our pixels against numbers measured on ECG-Image-Kit's. Works on any renderer's
RGB page; the geometry measures expect a page of a *flat* (all-zero) record, where every trace is a straight line
at its baseline, and lead labels are found as the difference between a page with labels and one without.
"""
from __future__ import annotations

import statistics

import cv2
import numpy as np

INK_MAX = 140  # a pixel is ink when all its channels are below this (grid colours always have one channel high)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def delta_e(a, b) -> float:
    """CIE76 colour difference of two RGB colours (0-255)."""
    lab = cv2.cvtColor(np.array([[a, b]], dtype=np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0]
    return float(np.linalg.norm(lab[0] - lab[1]))


def paper_color(rgb: np.ndarray) -> tuple[int, int, int]:
    flat = rgb[::7, ::7].reshape(-1, 3)
    values, counts = np.unique(flat, axis=0, return_counts=True)
    return tuple(int(v) for v in values[counts.argmax()])


def _pitch(centres) -> float | None:
    """Mean spacing of regularly spaced lines, none missing (so a 39.37 px pitch is not rounded to 39)."""
    centres = np.sort(np.asarray(centres, dtype=np.float64))
    if centres.size < 3:
        return None
    pitch = float(np.median(np.diff(centres)))
    for span in (8, 32, None):  # refine on ever more lines; a missing line is a skipped step, not a wider pitch
        use = centres if span is None else centres[centres <= centres[0] + span * pitch]
        steps = np.rint((use - centres[0]) / pitch)
        if len(set(steps.tolist())) > 1:
            pitch = float(np.polyfit(steps, use, 1)[0])
    return pitch


def _axis_lines(profile: np.ndarray, paper: np.ndarray) -> dict:
    """Grid lines along one axis from the median colour of every column (or row)."""
    dist = np.linalg.norm(profile - paper, axis=1)
    top = np.percentile(dist, 99.5)
    if top < 8:
        return {"major": None, "minor": None}
    dist[:3], dist[-3:] = 0, 0  # the page frame
    major_mask = dist > 0.5 * top
    out = {}
    major = _runs(major_mask)
    centres = np.array([(a + b - 1) / 2 for a, b in major])
    cores = [a + int(np.argmax(dist[a:b])) for a, b in major]

    def mass_width(core: int) -> float:
        """Line width in px as its total colour 'mass' over its core's: anti-aliased edges count partly."""
        return float(dist[max(0, core - 2):core + 3].sum() / dist[core])

    out["major"] = {
        "pitch": _pitch(centres),
        "width": round(float(np.median([mass_width(c) for c in cores])), 2),
        "color": [int(round(c)) for c in np.median(profile[cores], axis=0)],
        "first": float(centres[0]) if len(centres) else None,
        "count": len(major),
    }
    near_major = cv2.dilate(major_mask.astype(np.uint8)[None, :], np.ones((1, 5), np.uint8))[0].astype(bool)
    minor_mask = (dist > 0.12 * top) & ~near_major
    minor = [(a, b) for a, b in _runs(minor_mask) if b - a <= 6]
    if len(minor) > 10:
        cores = [a + int(np.argmax(dist[a:b])) for a, b in minor]
        all_centres = np.sort(np.concatenate([centres, cores]))
        out["minor"] = {
            "pitch": _pitch(all_centres),
            "width": round(float(np.median([mass_width(c) for c in cores])), 2),
            "color": [int(round(c)) for c in np.median(profile[cores], axis=0)],
        }
    else:
        out["minor"] = None
    return out


def grid_metrics(rgb: np.ndarray) -> dict:
    """Paper colour, and per axis the 5 mm (major) and 1 mm (minor) lines: pitch, width (px), colour, first line."""
    rgb = np.asarray(rgb)[..., :3]
    paper = np.asarray(paper_color(rgb), dtype=np.float64)
    # ink would pull the medians toward black: replace it with paper before taking medians
    clean = rgb.copy()
    near_ink = cv2.dilate(ink_mask(rgb).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # + AA fringe
    clean[near_ink] = paper.astype(np.uint8)
    cols = np.median(clean[::3].astype(np.float32), axis=0)
    rows = np.median(clean[:, ::3].astype(np.float32), axis=1)
    vertical, horizontal = _axis_lines(cols, paper), _axis_lines(rows, paper)
    h = rgb.shape[0]
    if horizontal["major"] and horizontal["major"]["pitch"]:  # phase from the bottom edge as well
        centres = [(a + b - 1) / 2 for a, b in _runs(np.linalg.norm(rows - paper, axis=1) >
                                                      0.5 * np.percentile(np.linalg.norm(rows - paper, axis=1), 99.5))]
        horizontal["major"]["last_from_bottom"] = float(h - 0.5 - centres[-1])
    return {"paper": [int(v) for v in paper], "vertical": vertical, "horizontal": horizontal}


def ink_mask(rgb: np.ndarray) -> np.ndarray:
    return (np.asarray(rgb)[..., :3] < INK_MAX).all(axis=2)


def trace_metrics(rgb: np.ndarray) -> dict:
    """On a flat-record page without labels: baselines, trace width and colour, pulses, separators, text boxes."""
    rgb = np.asarray(rgb)[..., :3]
    ink = ink_mask(rgb)
    h, w = ink.shape
    counts = ink.sum(axis=1)
    lines = [(a, b) for a, b in _runs(counts > 0.25 * w) if a > 2 and b < h - 2]  # not the page border
    baselines, widths, colors, spans = [], [], [], []
    for a, b in lines:
        peak = counts[a:b].max()
        core = [y for y in range(a, b) if counts[y] > 0.5 * peak]
        baselines.append((core[0] + core[-1]) / 2)
        widths.append(len(core))
        y = a + int(np.argmax(counts[a:b]))
        colors.append(np.median(rgb[y][ink[y]], axis=0))
        xs = np.flatnonzero(ink[a:b].any(axis=0))
        spans.append((int(xs.min()), int(xs.max()) + 1))
    out = {"baselines": [float(v) for v in baselines], "trace_width": float(np.median(widths)) if widths else None,
           "trace_color": [int(round(c)) for c in np.median(colors, axis=0)] if colors else None,
           "trace_spans": [list(s) for s in spans]}
    pulses, separators = [], []
    for base in baselines:
        band = ink[max(0, int(base) - 120):min(h, int(base) + 120)]
        off = max(0, int(base) - 120)
        col_ink = band.sum(axis=0)
        for x0, x1 in _runs(col_ink > 8):
            ys = np.flatnonzero(band[:, x0:x1].any(axis=1)) + off
            above, below = base - ys.min(), ys.max() - base
            if below < 3 and above > 20:  # a pulse: rises from the baseline only
                pulses.append({"x0": x0, "x1": x1, "top": int(ys.min()), "height": float(above), "edge_width": x1 - x0,
                               "baseline": float(base)})
            elif below > 3 and above > 3:  # a separator tick through the baseline
                separators.append({"x": (x0 + x1 - 1) / 2, "width": x1 - x0, "length": int(ys.max() - ys.min() + 1),
                                   "baseline": float(base)})
    # pulse = two vertical edges; pair them per baseline
    paired = []
    for base in baselines:
        edges = [p for p in pulses if p["baseline"] == base]
        if len(edges) >= 2:
            e0, e1 = edges[0], edges[1]
            top_band = ink[e0["top"]:e0["top"] + 12, e0["x1"]:e1["x0"]]
            top_w = int(np.median(top_band.sum(axis=0))) if top_band.size else None
            paired.append({"x_rise": (e0["x0"] + e0["x1"] - 1) / 2, "x_fall": (e1["x0"] + e1["x1"] - 1) / 2,
                           "height": e0["height"], "edge_width": e0["edge_width"], "top_width": top_w,
                           "baseline": base})
    out["pulses"] = paired
    out["separators"] = separators
    out["border"] = {"top": float(ink[0].mean()), "bottom": float(ink[-1].mean()),
                     "left": float(ink[:, 0].mean()), "right": float(ink[:, -1].mean())}
    out["texts"] = text_boxes(ink, exclude_rows=[(int(b) - 2 * int(max(widths or [1])), int(b) + 2 * int(max(widths or [1])))
                                                for b in baselines], pulses=paired, separators=separators)
    return out


def _boxes(mask: np.ndarray, join_px: int) -> list[list[int]]:
    """Bounding boxes (x0, y0, x1, y1) of words: glyphs closer than ``join_px`` are merged."""
    if not mask.any():
        return []
    joined = cv2.dilate(mask.astype(np.uint8), np.ones((1, max(1, join_px)), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    boxes = []
    for i in range(1, n):
        ys, xs = np.nonzero((labels == i) & mask)
        if ys.size:
            boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1])
    return sorted(boxes, key=lambda b: (b[1] // 20, b[0]))


def text_boxes(ink: np.ndarray, exclude_rows=(), pulses=(), separators=()) -> list[list[int]]:
    """Ink outside traces, pulses and separators (the footer, a header), as word boxes."""
    rest = ink.copy()
    for a, b in exclude_rows:
        rest[max(0, a):max(0, b)] = False
    for p in pulses:
        rest[int(p["baseline"] - p["height"] - 10):int(p["baseline"]) + 10,
             int(p["x_rise"]) - 10:int(p["x_fall"]) + 10] = False
    for s in separators:
        rest[int(s["baseline"] - s["length"]):int(s["baseline"] + s["length"]),
             int(s["x"] - s["width"] - 2):int(s["x"] + s["width"] + 3)] = False
    rest[:2], rest[-2:], rest[:, :2], rest[:, -2:] = False, False, False, False  # page border
    return _boxes(rest, 12)


def label_boxes(with_labels: np.ndarray, without_labels: np.ndarray) -> list[list[int]]:
    """Lead-label word boxes: the ink present only on the page with labels."""
    diff = ink_mask(with_labels) & ~ink_mask(without_labels)
    diff = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    return _boxes(diff, 12)


def page_metrics(with_labels, without_labels) -> dict:
    """Everything above for one flat-record page rendered with and without lead labels (RGB arrays)."""
    a, b = np.asarray(with_labels)[..., :3], np.asarray(without_labels)[..., :3]
    out = {"size": [int(a.shape[1]), int(a.shape[0])], "grid": grid_metrics(b), "trace": trace_metrics(b)}
    boxes = label_boxes(a, b)
    bases = out["trace"]["baselines"]
    labels = []
    for x0, y0, x1, y1 in boxes:
        near = min(bases, key=lambda v: abs(v - (y0 + y1) / 2)) if bases else 0.0
        labels.append({"box": [x0, y0, x1, y1], "height": y1 - y0, "top_minus_baseline": y0 - near})
    out["labels"] = labels
    return out


def style_summary(m: dict) -> dict:
    """The numbers of ``page_metrics`` that a style audit compares, flat: grid, trace, pulse, separators, labels."""
    g, t = m["grid"], m["trace"]
    first = next((lab for lab in m["labels"]), None)
    out = {"size": m["size"], "paper": g["paper"]}
    for axis in ("vertical", "horizontal"):
        for kind in ("major", "minor"):
            line = g[axis][kind] or {}
            for key in ("pitch", "width", "color"):
                out[f"grid.{axis}.{kind}.{key}"] = line.get(key)
    out["grid.first_major_from_left"] = (g["vertical"]["major"] or {}).get("first")
    out["grid.first_major_from_bottom"] = (g["horizontal"]["major"] or {}).get("last_from_bottom")
    out["baselines"] = t["baselines"]
    out["trace.width"] = t["trace_width"]
    out["trace.color"] = t["trace_color"]
    p = t["pulses"][0] if t["pulses"] else {}
    out.update({f"pulse.{k}": p.get(k) for k in ("x_rise", "x_fall", "height", "edge_width")})
    seps = [s for s in t["separators"] if 2 < s["x"] < m["size"][0] - 3]
    out["separator.xs"] = sorted({s["x"] for s in seps})
    out["separator.width"] = statistics.median(s["width"] for s in seps) if seps else None
    out["separator.length"] = statistics.median(s["length"] for s in seps) if seps else None
    out["labels"] = [lab["box"] for lab in m["labels"]]
    out["label.height"] = statistics.median(lab["height"] for lab in m["labels"]) if m["labels"] else None
    out["label.top_below_baseline"] = first["top_minus_baseline"] if first else None
    out["label.left_of_first"] = first["box"][0] if first else None
    h = m["size"][1]
    out["footer"] = [b for b in t["texts"] if b[1] > 0.9 * h]
    out["frame"] = t["border"]
    return out
