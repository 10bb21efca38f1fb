"""The ``eik`` placement: ECG-Image-Kit's page geometry, drawn with our fast palette pipeline.

Geometry (measured on ECG-Image-Kit's pixels, see docs/rendering.md):
- the grid is anchored at the page's bottom-left corner; 1 mm and 5 mm lines have the same width, and where
  they cross, the 1 mm horizontal lines are drawn over the 5 mm vertical ones;
- with R rows (strips included) each row is H / (R + 2) high and the rows sit at the bottom of the page: a lead
  row's baseline is (rows below it + 1.5) row heights above the bottom (the top ~two rows stay empty, room for a
  header); a rhythm strip's baseline is half a row height + 3 mm above the bottom;
- the margin left of the pulse is the largest multiple of 5 mm not above (W - 250 mm) / 2; the 0.2 s
  calibration pulse comes first and every trace starts where it ends;
- lead names sit *below* the start of each trace (text baseline 7 mm under the trace, 8 mm under a strip);
- bold separator ticks at column starts; a thin frame around the page; ``25mm/s`` at 50 mm and ``10mm/mV`` at
  100 mm from the left, 5 mm above the bottom edge; a printed header starts at the top-left in 5 mm lines.
The speed and gain of the spec are honoured (the pulse is 1 mV x 0.2 s; text shows the true values).
"""
from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .header import _FIELDS, _format, _value
from .layouts import get_layout
from .page import (SHIFT, TRACE_WIDTH_MM, PageGeometry, PanelBox, _check, _stamp, _usable_leads, panel_trace,
                   page_seconds)
from .paper import LEVELS, MAJOR, MAJOR_EDGE, MINOR, MINOR_EDGE, PAPERS, GridColors, palette_of, px_per_mm
from .styles import PT_PER_INCH, Style

STRIP_LABEL_BELOW_MM = 8.0
STRIP_BASE_ABOVE_HALF_ROW_MM = 3.0
HEADER_COLUMN_MM = 75.0
HEADER_LINE_MM = 5.0


def _pt_px(pt: float, dpi: float) -> float:
    return pt * dpi / PT_PER_INCH


@lru_cache(maxsize=4)
def _font_file(name: str) -> str | None:
    if name != "dejavu":
        return None
    spec = importlib.util.find_spec("matplotlib")  # its bundled DejaVu Sans, without importing matplotlib
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "mpl-data/fonts/ttf/DejaVuSans.ttf"
        if path.is_file():
            return str(path)
    return None


@lru_cache(maxsize=64)
def _font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    path = _font_file(name)
    return ImageFont.truetype(path, size_px) if path else ImageFont.load_default(size=size_px)


@lru_cache(maxsize=512)
def _text(text: str, font_name: str, size_px: int, gain: float = 1.6) -> tuple[np.ndarray, int]:
    """(coverage mask, ascent): the mask's row ``ascent`` is the text baseline; column 0 is the text origin.

    Coverage is scaled by ``gain`` (clipped): matplotlib's hinted black text is darker than Pillow's grey edges.
    """
    font = _font(font_name, size_px)
    ascent, descent = font.getmetrics()
    right = int(math.ceil(font.getlength(text))) + size_px // 4
    canvas = Image.new("L", (max(1, right), ascent + descent + 2))
    ImageDraw.Draw(canvas).text((0, ascent), text, fill=255, font=font, anchor="ls")
    mask = np.minimum(255.0, np.asarray(canvas) * gain).astype(np.uint8)
    mask.setflags(write=False)
    return mask, ascent


# ECG-Image-Kit sizes pages in inches and truncates to whole pixels
EIK_PAPERS_IN = {"letter": (11.0, 8.5), "a4": (11.69, 8.27)}


def _page_mm(spec, layout) -> tuple[float, float]:
    paper = spec.paper or layout.paper
    if paper in EIK_PAPERS_IN:
        return tuple(v * 25.4 for v in EIK_PAPERS_IN[paper])
    if PAPERS[paper] is not None:
        return PAPERS[paper]
    return PAPERS["letter"][0], 40.0 * (layout.rows + 2)  # "fit": letter width, 40 mm rows


@lru_cache(maxsize=8)
def _background(width: int, height: int, dpi: float, line_px: int, minor: bool, major: bool,
                edges: bool = False) -> np.ndarray:
    """Pixel classes of the grid, anchored bottom-left, in ECG-Image-Kit's drawing order. With ``edges`` every
    line gets a one-pixel anti-aliased edge on both sides (classes ``MINOR_EDGE`` / ``MAJOR_EDGE``) on pixels
    no line core covers: a matplotlib line of fractional width snapped to a pixel centre."""
    out = np.zeros((height, width), dtype=np.uint8)
    k = px_per_mm(dpi)

    def lines(size: int, every_mm: int, skip_mm: int | None, from_end: bool = False, pad: int = 0) -> np.ndarray:
        mm = np.arange(0, size / k + 1)
        mm = mm[mm % every_mm == 0] if skip_mm is None else mm[mm % skip_mm != 0]
        centre = np.rint(size - mm * k if from_end else mm * k).astype(int)
        idx = (centre[:, None] + np.arange(-pad, line_px + pad)[None, :] - line_px // 2).ravel()
        return idx[(idx >= 0) & (idx < size)]

    draw_minor = minor and k >= 3.0
    # (class, every, skip, axis, drawn) in drawing order; axis 1: vertical lines (columns), 0: horizontal (rows)
    order = [(MAJOR, 5, None, 1, major), (MINOR, 1, 5, 1, draw_minor), (MAJOR, 5, None, 0, major),
             (MINOR, 1, 5, 0, draw_minor)]

    def draw(value: int, every: int, skip: int | None, axis: int, pad: int = 0) -> None:
        if axis == 1:
            out[:, lines(width, every, skip, pad=pad)] = value
        else:
            out[lines(height, every, skip, True, pad=pad), :] = value

    if edges:  # rims first, the 5 mm lines' over the 1 mm lines'; the cores drawn next cover any rim they overlap
        for cls, rim in ((MINOR, MINOR_EDGE), (MAJOR, MAJOR_EDGE)):
            for c, every, skip, axis, on in order:
                if on and c == cls:
                    draw(rim * LEVELS, every, skip, axis, pad=1)
    for cls, every, skip, axis, on in order:
        if on:
            draw(cls * LEVELS, every, skip, axis)
    out.setflags(write=False)
    return out


def _rect(ink: np.ndarray, x0: float, y0: float, x1: float, y1: float, half: float) -> None:
    """A segment from (x0, y0) to (x1, y1), axis-aligned, ``2 * half`` px thick, with square (projecting) caps."""
    a, b = min(x0, x1) - half, max(x0, x1) + half
    c, d = min(y0, y1) - half, max(y0, y1) + half
    cv2.rectangle(ink, (int(round(a)), int(round(c))), (int(round(b)) - 1, int(round(d)) - 1), 255, -1)


def _header_items(meta) -> list[tuple[int, int, str]]:
    """(column, line, text) of the printed header, ECG-Image-Kit-like: identification and demographics first."""
    items = {label: _format(label, v, unit) for keys, label, unit in _FIELDS if (v := _value(meta, keys)) is not None}
    if "Age" in items:
        items["Age"] += " yrs"
    if "Sex" in items:
        items["Sex"] = {"Sex: M": "Sex: Male", "Sex: F": "Sex: Female"}.get(items["Sex"], items["Sex"])
    columns = (("ID", "Age", "Sex"), ("HR", "PR", "QRS"), ("Date", "QT", "QTc", "Axis"))
    out = []
    for c, names in enumerate(columns):
        present = [items[n] for n in names if n in items]
        out += [(c, i, text) for i, text in enumerate(present)]
    return out


def eik_page_size(spec) -> tuple[int, int]:
    """(width, height) in pixels of the clean page ``draw_eik_page`` draws for ``spec``, without drawing it."""
    w_mm, h_mm = _page_mm(spec, get_layout(spec.layout, spec.rhythm_lead))
    return tuple(int(v / 25.4 * float(spec.dpi) + 1e-6) for v in (w_mm, h_mm))


def draw_eik_page(ecg, spec, style: Style, *, grid: str | None = None) -> tuple[Image.Image, PageGeometry]:
    _check(ecg, spec)
    grid = grid or spec.grid
    layout = get_layout(spec.layout, spec.rhythm_lead)
    w_mm, h_mm = _page_mm(spec, layout)
    dpi = float(spec.dpi)
    k = px_per_mm(dpi)
    width, height = eik_page_size(spec)
    seconds = page_seconds(spec)

    strips = sorted({p.row for p in layout.panels if p.strip})
    lead_rows = sorted({p.row for p in layout.panels if not p.strip})
    row_mm = h_mm / (layout.rows + 2)
    above_bottom = {}  # row -> baseline height above the bottom edge, mm
    for j, row in enumerate(strips):
        above_bottom[row] = (len(strips) - 1 - j) * row_mm + row_mm / 2 + STRIP_BASE_ABOVE_HALF_ROW_MM
    for j, row in enumerate(lead_rows):
        above_bottom[row] = (max(len(strips), 1) - 1 + len(lead_rows) - j + 0.5) * row_mm
    baseline_mm = {row: h_mm - v for row, v in above_bottom.items()}

    gap_mm = 5 * math.floor((w_mm - TRACE_WIDTH_MM) / 10)
    pulse_mm = 0.2 * spec.speed
    x0_mm = gap_mm + pulse_mm

    usable = _usable_leads(ecg)
    first_lead = ecg.leads[min(usable.values())]
    trace_px = _pt_px(style.trace_pt, dpi) if style.trace_pt else spec.line_width * k
    # a 1 px anti-aliased OpenCV line has a triangular coverage profile; scaled by g (clipped at full) it is 2 - 1/g px
    # wide at half darkness. g is chosen to give 0.8 x trace_px there (matplotlib's stroke, measured at 200 dpi:
    # docs/rendering.md), at most ``ink_gain``; traces of 2.5 px and more are dilated first
    dilate = max(1, int(round(trace_px - 1))) if spec.antialias else 1
    gain = 1.0 if dilate > 1 else min(style.ink_gain, max(1.0, 1.0 / max(2.0 - 0.8 * trace_px, 1e-3)))
    # page coordinates put pixel i on [i, i + 1); OpenCV puts its centre at i: shift by half a pixel, and by
    # another half when an even dilation kernel would move the line
    offset = 0.5 + (0.5 if dilate % 2 == 0 else 0.0)
    font_px = max(6, int(round(_pt_px(style.label_pt or 11.0, dpi))))

    lines, boxes, stamps, rects = [], [], [], []
    pulse_half = max(1.0, _pt_px(style.pulse_pt or 1.0, dpi)) / 2
    sep_half = max(1.0, _pt_px(style.separator_pt or 1.0, dpi)) / 2
    sep_len_mm = style.separator_grid_fraction * 5 * k * 10.0  # mV at 10 mm/mV, as ECG-Image-Kit sizes it
    for panel in layout.panels:
        base = baseline_mm[panel.row] * k
        label, t0, t1, px0, px1, runs = panel_trace(ecg, spec, panel, usable, first_lead, seconds, x0_mm, base, k,
                                                    offset)
        lines += runs
        drawn = bool(runs)
        label_box = None
        if spec.labels:
            mask, ascent = _text(label, style.font, font_px)
            below = STRIP_LABEL_BELOW_MM if panel.strip else style.label_below_mm
            lx, ly = int(round(px0)), int(round(base + below * k)) - ascent
            stamps.append((mask, lx, ly))
            rows, cols = np.nonzero(mask)
            label_box = (lx + int(cols.min()), ly + int(rows.min()), lx + int(cols.max()) + 1,
                         ly + int(rows.max()) + 1) if rows.size else None
        boxes.append(PanelBox(panel.lead, label, panel.row, px0, px1, base, t0, t1, drawn, label_box))
        if panel.start > 0 and not panel.strip:
            half_len = sep_len_mm / 2 * k
            rects.append((px0, base - half_len, px0, base + half_len, sep_half))
        if panel.start == 0 and spec.calibration:
            g, (rise, fall, end) = gap_mm * k, (s * spec.speed * k for s in style.pulse_s)
            top = base - spec.gain * k
            rects += [(g, base, g + rise, base, pulse_half), (g + rise, base, g + rise, top, pulse_half),
                      (g + rise, top, g + fall, top, pulse_half), (g + fall, top, g + fall, base, pulse_half),
                      (g + fall, base, g + end, base, pulse_half)]

    ink = np.zeros((height, width), dtype=np.uint8)
    cv2.polylines(ink, lines, False, 255, 1 if spec.antialias else max(1, int(round(trace_px))),
                  cv2.LINE_AA if spec.antialias else cv2.LINE_8, SHIFT)
    if dilate > 1:
        ink = cv2.dilate(ink, np.ones((dilate, dilate), np.uint8))
    for x0, y0, x1, y1, half in rects:
        _rect(ink, x0, y0, x1, y1, half)
    if style.border_pt:  # a frame line centred on the page edge: half of it is on the page
        half = _pt_px(style.border_pt, dpi) / 2
        b = max(1, int(round(half)))
        ink[:b], ink[:, :b] = 255, 255
        if half >= 1:  # below a pixel, the right and bottom halves snap off the page (as in ECG-Image-Kit)
            ink[-b:], ink[:, -b:] = 255, 255

    texts = []
    if spec.footer:
        foot = (h_mm - 5.0) * k
        texts += [((50.0 * k, foot), f"{spec.speed:g}mm/s"), ((100.0 * k, foot), f"{spec.gain:g}mm/mV")]
    if spec.header:
        first = max(h_mm - 10 * math.floor(h_mm / 10), 5.0)
        texts += [(((1.25 + HEADER_COLUMN_MM * c) * k, (first + HEADER_LINE_MM * i) * k), text)
                  for c, i, text in _header_items(ecg.meta)]
    for (x, y), text in texts:
        mask, ascent = _text(text, style.font, font_px)
        stamps.append((mask, int(round(x)), int(round(y)) - ascent))
    for mask, x, y in stamps:
        _stamp(ink, mask, x, y)

    coverage = np.minimum(1.0, np.arange(256) / 255 * gain)
    lut = np.rint(coverage * (LEVELS - 1)).astype(np.uint8) if spec.antialias else \
        np.where(np.arange(256) >= 96, LEVELS - 1, 0).astype(np.uint8)
    index = cv2.LUT(ink, lut)
    grid_px = _pt_px(style.grid_pt or 0.5, dpi)
    colors = _thin_lines(style.grids[grid], grid_px)
    edge = 0.0
    if colors.minor or colors.major:
        if style.grid_antialias and grid_px > 1:  # the largest odd core, the rest of the width shared by two edges
            line_px = int(grid_px) if int(grid_px) % 2 else int(grid_px) - 1
            edge = (grid_px - line_px) / 2
            edge = edge if edge > 0.02 else 0.0
        else:
            line_px = max(1, int(round(grid_px)))
        bg = _background(width, height, dpi, line_px, colors.minor is not None, colors.major is not None, edge > 0)
        index = cv2.add(bg, index)
    image = Image.frombuffer("P", (width, height), np.ascontiguousarray(index), "raw", "P", 0, 1)
    image.putpalette(palette_of(colors, ink_color(style, spec, grid), edge=edge).tobytes())
    geometry = PageGeometry(width, height, dpi, k, spec.speed * k, spec.gain * k, layout.name, tuple(boxes),
                            row_mm * k)
    return image, geometry


def _thin_lines(colors: GridColors, width_px: float) -> GridColors:
    """Lines thinner than a pixel cover it partly: their colour fades toward the paper (as anti-aliasing does)."""
    if width_px >= 1:
        return colors
    def fade(c):
        return None if c is None else tuple(int(round(p + (v - p) * width_px)) for v, p in zip(c, colors.paper))
    return GridColors(colors.paper, fade(colors.minor), fade(colors.major))


def ink_color(style: Style, spec, grid: str) -> tuple[int, int, int]:
    """The trace grey of this page: drawn from the style's range with the spec's seed (black on "bw" pages)."""
    if grid == "bw" or not style.ink_grey:
        return (0, 0, 0)
    lo, hi = style.ink_grey
    grey = np.random.default_rng([spec.seed, 0x1C]).uniform(lo, hi)
    return (int(round(grey * 255)),) * 3
