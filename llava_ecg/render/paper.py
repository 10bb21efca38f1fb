"""Paper sizes, grid colour schemes and the millimetre-to-pixel mapping.

Everything on a page is placed in millimetres and mapped to pixels by ``dpi`` with one function, so the grid,
the traces and the calibration pulses share one scale: 25 mm/s and 10 mm/mV are true on the image.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MM_PER_INCH = 25.4

# (width, height) in mm, landscape. "fit" pages are sized to the layout (see ``page_size_mm``).
PAPERS: dict[str, tuple[float, float] | None] = {
    "letter": (279.4, 215.9),
    "a4": (297.0, 210.0),
    "fit": None,
}


@dataclass(frozen=True)
class GridColors:
    paper: tuple[int, int, int]
    minor: tuple[int, int, int] | None
    major: tuple[int, int, int] | None


GRIDS: dict[str, GridColors] = {
    "red": GridColors((255, 255, 255), (250, 207, 207), (236, 128, 128)),
    "pink": GridColors((255, 253, 253), (251, 222, 233), (238, 158, 189)),
    "green": GridColors((255, 255, 255), (208, 236, 208), (118, 186, 118)),
    "blue": GridColors((255, 255, 255), (212, 226, 250), (128, 160, 228)),
    "grey": GridColors((255, 255, 255), (226, 226, 226), (168, 168, 168)),
    "bw": GridColors((255, 255, 255), None, (200, 200, 200)),
    "brown": GridColors((255, 255, 255), (232, 214, 204), (176, 120, 100)),
    "none": GridColors((255, 255, 255), None, None),
}

INK = (18, 18, 24)
# Below this many pixels per millimetre a 1 mm grid turns into a flat tint with moiré, so only 5 mm lines are drawn.
MIN_PX_PER_MM_FOR_MINOR_GRID = 3.0

# Pixel classes of the pre-drawn background; the palette index of a pixel is class * LEVELS + ink level.
# The edge classes are the anti-aliased rims of grid lines (paper partly covered by the line's colour).
PAPER, MINOR, MAJOR, MINOR_EDGE, MAJOR_EDGE = 0, 1, 2, 3, 4
LEVELS = 16


def px_per_mm(dpi: float) -> float:
    return float(dpi) / MM_PER_INCH


def page_pixels(size_mm: tuple[float, float], dpi: float) -> tuple[int, int]:
    k = px_per_mm(dpi)
    return max(1, int(round(size_mm[0] * k))), max(1, int(round(size_mm[1] * k)))


def palette(grid: str) -> np.ndarray:
    """(3 * LEVELS, 3) uint8: background class x ink coverage level, blended toward the ink colour."""
    return palette_of(GRIDS[grid], INK)


def palette_of(colors: GridColors, ink_rgb: tuple[int, int, int], *, edge: float = 0.0) -> np.ndarray:
    """``palette`` for any colour scheme and ink; ``edge``: the coverage of the edge classes by their line."""
    major = colors.major or colors.paper
    # class MINOR also carries the 5 mm lines at low dpi; a scheme without a 1 mm grid shows them half-strength
    minor = colors.minor or tuple((a + b) // 2 for a, b in zip(colors.paper, major))
    bases = [colors.paper, minor, major]
    if edge:
        paper = np.asarray(colors.paper, dtype=np.float64)
        bases += [paper + (np.asarray(c, dtype=np.float64) - paper) * edge for c in (minor, major)]
    alpha = np.linspace(0.0, 1.0, LEVELS)[:, None]
    ink = np.asarray(ink_rgb, dtype=np.float64)
    rows = [np.asarray(b, dtype=np.float64) * (1 - alpha) + ink * alpha for b in bases]
    return np.rint(np.concatenate(rows)).astype(np.uint8)


@lru_cache(maxsize=8)
def background_classes(width: int, height: int, dpi: float, grid_top_px: int, minor: bool, major: bool) -> np.ndarray:
    """(height, width) uint8 of ``class * LEVELS`` for a grid anchored at the page's top-left corner.

    Cached per geometry: the grid never depends on the signal. The array is read-only; callers combine it
    into a new array.
    """
    out = np.zeros((height, width), dtype=np.uint8)
    k = px_per_mm(dpi)
    major_px = max(1, int(round(0.2 * k)))
    if minor and k >= MIN_PX_PER_MM_FOR_MINOR_GRID:
        xs = np.rint(np.arange(0, width / k + 1) * k).astype(int)
        ys = np.rint(np.arange(0, height / k + 1) * k).astype(int)
        out[grid_top_px:, xs[xs < width]] = MINOR * LEVELS
        ys = ys[(ys >= grid_top_px) & (ys < height)]
        out[ys, :] = MINOR * LEVELS
    if major:
        # at low dpi the 5 mm lines are drawn in the light 1 mm colour so the trace stays the darkest thing
        major_class = MAJOR if k >= MIN_PX_PER_MM_FOR_MINOR_GRID else MINOR
        for axis, size in ((1, width), (0, height)):
            lines = np.rint(np.arange(0, size / k + 5, 5) * k).astype(int)
            idx = (lines[:, None] + np.arange(major_px)[None, :] - major_px // 2).ravel()
            idx = idx[(idx >= 0) & (idx < size)]
            if axis == 1:
                out[grid_top_px:, idx] = major_class * LEVELS
            else:
                out[idx[idx >= grid_top_px], :] = major_class * LEVELS
    out.setflags(write=False)
    return out
