"""Draws a clean ECG page straight into a palette image: no matplotlib, no per-sample Python.

Why this design (figures in docs/rendering.md): the grid never depends on the signal, so it is a cached
array of pixel classes (paper / 1 mm / 5 mm). Traces, pulses and text go into one 8-bit ink-coverage layer
(OpenCV anti-aliased polylines with sub-pixel coordinates, one call for the whole page; Pillow for text).
The page is then ``class * 16 + coverage level``, i.e. an index into a 48-colour palette, which gives a
1-byte-per-pixel image that PNG encodes several times faster than RGB and JPEG/augmentation can expand to RGB
in ~2 ms.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import RenderError
from .header import header_lines
from .layouts import Layout, get_layout
from .paper import GRIDS, LEVELS, PAPERS, background_classes, page_pixels, palette, px_per_mm
from .spec import RenderSpec

TRACE_WIDTH_MM = 250.0  # 10 s at 25 mm/s; the time a page shows is this width divided by the speed
HEADER_MM = 20.0
TOP_MM = 5.0
FOOTER_MM = 9.0
FIT_ROW_MM = 40.0
LABEL_MM = 3.2  # text height
BASELINE_AT = 0.6  # baseline position within its row, from the top (QRS complexes point mostly up)
SHIFT = 4  # OpenCV fixed-point bits: coordinates are drawn to 1/16 px


@dataclass(frozen=True)
class PanelBox:
    """Where one lead was drawn, in pixels of the clean page, and which record time it shows."""
    lead: str  # the layout's lead
    label: str  # what is printed and drawn: the record's name of the lead (differs after a rhythm-strip fallback)
    row: int
    x0: float
    x1: float
    baseline: float
    t0: float  # seconds into the record
    t1: float
    drawn: bool  # False: the record has no usable data for this lead, the panel is left blank
    label_box: tuple[int, int, int, int] | None = None  # printed label's pixel box (x0, y0, x1, y1), if printed


@dataclass(frozen=True)
class PageGeometry:
    width: int
    height: int
    dpi: float
    px_per_mm: float
    px_per_s: float
    px_per_mv: float
    layout: str
    panels: tuple[PanelBox, ...]
    row_pitch: float = 0.0  # px between row baselines; a row spans baseline - 0.6 pitch .. baseline + 0.4 pitch

    def to_dict(self) -> dict:
        return asdict(self)


def page_seconds(spec: RenderSpec) -> float:
    """Seconds of signal one page shows (10 s at 25 mm/s)."""
    return TRACE_WIDTH_MM / spec.speed


@lru_cache(maxsize=32)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    # Pillow's bundled font: identical glyphs on every machine, so images do not depend on system fonts.
    return ImageFont.load_default(size=max(6, int(size_px)))


def _page_size_mm(spec: RenderSpec, layout: Layout) -> tuple[float, float]:
    paper = spec.paper or layout.paper
    if PAPERS[paper] is not None:
        return PAPERS[paper]
    height = TOP_MM + layout.rows * FIT_ROW_MM + (FOOTER_MM if spec.footer else 3.0)
    return 15.0 + TRACE_WIDTH_MM + 5.0, height + (HEADER_MM if spec.header else 0.0)


def page_size(spec: RenderSpec) -> tuple[int, int]:
    """(width, height) in pixels of the clean page ``draw_page`` draws for ``spec``, without drawing it."""
    return page_pixels(_page_size_mm(spec, get_layout(spec.layout, spec.rhythm_lead)), spec.dpi)


def _usable_leads(ecg) -> dict[str, int]:
    """Lower-cased lead name -> column, for leads with at least one finite sample."""
    finite = np.isfinite(ecg.signal).any(axis=0)
    return {name.lower(): i for i, name in enumerate(ecg.leads) if finite[i]}


def _check(ecg, spec: RenderSpec) -> None:
    name = ecg.meta.get("id") or "ECG"
    if ecg.n_samples == 0 or len(ecg.leads) == 0:
        raise RenderError(f"{name}: empty signal {ecg.signal.shape}; nothing to draw")
    if not np.isfinite(ecg.signal).any():
        raise RenderError(f"{name}: signal has no finite samples (all NaN/inf)")
    if spec.start >= ecg.duration:
        raise RenderError(f"{name}: page start {spec.start} s is past the record's end ({ecg.duration:.2f} s)")


def _polyline_runs(x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Fixed-point (N, 1, 2) int32 polylines, split at non-finite samples (NaN runs become gaps)."""
    ok = np.isfinite(y)
    if not ok.any():
        return []
    pts = np.empty((x.size, 1, 2), dtype=np.int32)
    scale = 1 << SHIFT
    pts[:, 0, 0] = np.rint(x * scale)
    pts[:, 0, 1] = np.rint(np.clip(np.where(ok, y, 0.0), -1e6, 1e6) * scale)
    if ok.all():
        return [pts]
    edges = np.flatnonzero(np.diff(ok.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [ok.size]])
    return [pts[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if ok[a]]


class PanelTrace(NamedTuple):
    label: str  # the lead drawn (a rhythm strip may fall back to the first usable lead)
    t0: float  # its time window, s
    t1: float
    px0: float  # its horizontal span on the page, px
    px1: float
    runs: list[np.ndarray]  # fixed-point polylines for cv2.polylines (empty: nothing to draw)


def panel_trace(ecg, spec: RenderSpec, panel, usable: dict[str, int], first_lead: str, seconds: float,
                x0_mm: float, base: float, k: float, offset: float) -> PanelTrace:
    """One panel's lead, time window, span and trace polylines: the part of a page every style draws alike."""
    lead = panel.lead
    if lead.lower() not in usable and panel.strip:
        lead = first_lead  # a rhythm strip falls back to the first usable lead
    col = usable.get(lead.lower())
    t0 = spec.start + panel.start * seconds
    t1 = spec.start + panel.stop * seconds
    runs: list[np.ndarray] = []
    if col is not None:
        fs = float(ecg.fs)
        i0 = max(0, math.ceil(t0 * fs - 1e-9))
        i1 = min(ecg.n_samples - 1, math.floor(t1 * fs + 1e-9))
        if i1 > i0:
            idx = np.arange(i0, i1 + 1)
            x = (x0_mm + (idx / fs - spec.start) * spec.speed) * k - offset
            y = base - ecg.signal[i0:i1 + 1, col].astype(np.float64) * spec.gain * k - offset
            runs = _polyline_runs(x, y)
    label = ecg.leads[col] if col is not None else lead
    return PanelTrace(label, t0, t1, (x0_mm + panel.start * TRACE_WIDTH_MM) * k,
                      (x0_mm + panel.stop * TRACE_WIDTH_MM) * k, runs)


def draw_page(ecg, spec: RenderSpec, *, grid: str | None = None) -> tuple[Image.Image, PageGeometry]:
    """The clean page as a palette ("P") image, plus where every panel went.

    ``grid`` overrides ``spec.grid`` (distortions use it to drop the grid). This is the ``classic`` placement;
    ``api.draw`` picks the page function of the spec's style.
    """
    _check(ecg, spec)
    grid = grid or spec.grid
    layout = get_layout(spec.layout, spec.rhythm_lead)
    size_mm = _page_size_mm(spec, layout)
    k = px_per_mm(spec.dpi)
    width, height = page_pixels(size_mm, spec.dpi)
    header_mm = HEADER_MM if spec.header else 0.0
    paper_like = PAPERS[spec.paper or layout.paper] is not None
    x0_mm = 5 * math.ceil(((size_mm[0] - TRACE_WIDTH_MM - 7) / 2 + 7) / 5) if paper_like else 15.0
    top = header_mm + TOP_MM
    bottom = size_mm[1] - (FOOTER_MM if spec.footer else 3.0)
    row_mm = (bottom - top) / layout.rows
    baselines = [round(top + row_mm * (r + BASELINE_AT)) for r in range(layout.rows)]
    seconds = page_seconds(spec)

    usable = _usable_leads(ecg)
    if not usable:
        raise RenderError(f"{ecg.meta.get('id') or 'ECG'}: no lead has finite samples")
    first_lead = ecg.leads[min(usable.values())]

    width_px = spec.line_width * k
    dilate = int(round(width_px)) if spec.antialias and width_px >= 1.5 else 1
    offset = 0.5 if dilate % 2 == 0 else 0.0  # an even dilation kernel shifts by half a pixel; pre-compensate

    lines: list[np.ndarray] = []
    boxes: list[PanelBox] = []
    stamps: list[tuple[np.ndarray, int, int]] = []  # text, drawn after the (dilated) traces
    font_px = int(LABEL_MM * k * 1.35)  # font size in px: cap height is ~0.7 of it
    for panel in layout.panels:
        base = baselines[panel.row] * k
        label, t0, t1, px0, px1, runs = panel_trace(ecg, spec, panel, usable, first_lead, seconds, x0_mm, base, k,
                                                    offset)
        lines += runs
        drawn = bool(runs)
        label_box = None
        if spec.labels:
            mask = _text_mask(label, font_px)
            lx, ly = int(round(px0 + 1.0 * k)), int(round(base - min(0.42 * row_mm, 10.0) * k))
            stamps.append((mask, lx, ly))
            rows, cols = np.nonzero(mask)
            label_box = (lx + int(cols.min()), ly + int(rows.min()), lx + int(cols.max()) + 1,
                         ly + int(rows.max()) + 1) if rows.size else None
        boxes.append(PanelBox(panel.lead, label, panel.row, px0, px1, base, t0, t1, drawn, label_box))
        if panel.start > 0:  # column separator
            sep = np.array([[px0, base - 2.5 * k], [px0, base + 2.5 * k]]) - offset
            lines.append(np.rint(sep * (1 << SHIFT)).astype(np.int32)[:, None, :])
    if not any(b.drawn for b in boxes):
        raise RenderError(f"{ecg.meta.get('id') or 'ECG'}: none of the leads of layout {layout.name!r} "
                          f"has samples in {spec.start:g}-{spec.start + seconds:g} s (record leads: {ecg.leads})")
    if spec.calibration:
        pw = 0.2 * spec.speed
        for b in baselines:
            xs = np.array([x0_mm - 2 - pw - 1, x0_mm - 2 - pw, x0_mm - 2 - pw, x0_mm - 2, x0_mm - 2, x0_mm - 1])
            ys = np.array([b, b, b - spec.gain, b - spec.gain, b, b], dtype=np.float64)
            pts = np.stack([xs * k, ys * k], axis=1) - offset
            lines.append(np.rint(pts * (1 << SHIFT)).astype(np.int32)[:, None, :])

    ink = np.zeros((height, width), dtype=np.uint8)
    line_type = cv2.LINE_AA if spec.antialias else cv2.LINE_8
    thickness = 1 if spec.antialias else max(1, int(round(width_px)))
    cv2.polylines(ink, lines, False, 255, thickness, line_type, SHIFT)
    if dilate > 1:
        ink = cv2.dilate(ink, np.ones((dilate, dilate), np.uint8))

    for (x, y), text in _texts(ecg, spec, k, size_mm, x0_mm):
        stamps.append((_text_mask(text, font_px), int(round(x)), int(round(y))))
    for mask, x, y in stamps:
        _stamp(ink, mask, x, y)

    lut = np.rint(np.arange(256) / 255 * (LEVELS - 1)).astype(np.uint8) if spec.antialias else \
        np.where(np.arange(256) >= 96, LEVELS - 1, 0).astype(np.uint8)
    index = cv2.LUT(ink, lut)
    colors = GRIDS[grid]
    if colors.minor or colors.major:
        bg = background_classes(width, height, float(spec.dpi), int(round(header_mm * k)),
                                colors.minor is not None, colors.major is not None)
        index = cv2.add(bg, index)
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(index), "raw", "P", 0, 1)
    image.putpalette(palette(grid).tobytes())
    geometry = PageGeometry(width, height, float(spec.dpi), k, spec.speed * k, spec.gain * k, layout.name, tuple(boxes),
                            row_mm * k)
    return image, geometry


@lru_cache(maxsize=512)
def _text_mask(text: str, size: int) -> np.ndarray:
    """A text's coverage as a small uint8 array, cached: labels and footers repeat on every page."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (max(1, right), max(1, bottom)))
    ImageDraw.Draw(canvas).text((0, 0), text, fill=255, font=font)
    mask = np.asarray(canvas)
    mask.setflags(write=False)
    return mask


def _stamp(ink: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    h, w = ink.shape
    mh, mw = mask.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + mw), min(h, y + mh)
    if x1 > x0 and y1 > y0:
        region = ink[y0:y1, x0:x1]
        np.maximum(region, mask[y0 - y: y1 - y, x0 - x: x1 - x], out=region)


def _texts(ecg, spec, k, size_mm, x0_mm):
    out = []
    if spec.footer:
        out.append(((x0_mm * k, (size_mm[1] - 6.5) * k), f"{spec.speed:g} mm/s    {spec.gain:g} mm/mV"))
    if spec.header:
        for i, line in enumerate(header_lines(ecg.meta)):
            out.append(((x0_mm * k, (3.0 + 5.5 * i) * k), line))
    return out
