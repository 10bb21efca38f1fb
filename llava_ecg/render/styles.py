"""Page styles: how a page looks (colours, line widths, fonts, where rows, pulses, labels and text go).

A registry like the layouts: ``RenderSpec(style=NAME)``. Every style keeps the calibration (the spec's mm/s and
mm/mV are true on the image); styles differ only in look.

- ``classic``: llava-ecg's own page (rows spread over the page, labels above the trace, soft red grid).
- ``eik``: ECG-Image-Kit's look, the generator the authors drew ECGInstruct and ECGBench with. The parameters
  below were measured from ECG-Image-Kit's pixels (``benchmarks/eik/style_audit.py``; table in
  docs/rendering.md), not taken from its code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from llava_ecg.registry import Registry

from .errors import RenderSpecError
from .paper import GRIDS, GridColors

PT_PER_INCH = 72.0


def _rgb(r: float, g: float, b: float) -> tuple[int, int, int]:
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


# ECG-Image-Kit's five standard schemes plus its black-and-white one (major, minor), by our grid names
EIK_GRIDS: dict[str, GridColors] = {
    "red": GridColors((255, 255, 255), _rgb(0.996, 0.8745, 0.8588), _rgb(1, 0, 0)),
    "pink": GridColors((255, 255, 255), _rgb(0.996, 0.9294, 0.9725), _rgb(1, 0.796, 0.866)),
    "blue": GridColors((255, 255, 255), _rgb(0, 0, 0.7), _rgb(0, 0, 0.4)),
    "green": GridColors((255, 255, 255), _rgb(0, 0.8, 0.3), _rgb(0, 0.3, 0)),
    "brown": GridColors((255, 255, 255), _rgb(0.5882, 0.4196, 0.3960), _rgb(0.4274, 0.196, 0.1843)),
    "grey": GridColors((255, 255, 255), _rgb(0.75, 0.75, 0.75), _rgb(0.4, 0.4, 0.4)),
    "bw": GridColors((255, 255, 255), _rgb(0.75, 0.75, 0.75), _rgb(0.4, 0.4, 0.4)),
    "none": GridColors((255, 255, 255), None, None),
}


@dataclass(frozen=True)
class Style:
    """A page look. Lengths in points (1/72 in) scale with dpi like a printed page; ``None`` = classic rule."""
    name: str
    placement: str = "classic"  # "classic" | "eik": the page geometry (page.py / page_eik.py)
    grids: dict[str, GridColors] = field(default_factory=lambda: GRIDS)
    ink_grey: tuple[float, float] | None = None  # trace grey drawn per seed from this range; None: paper.INK
    grid_pt: float | None = None  # grid line width, both 1 mm and 5 mm lines
    grid_antialias: bool = False  # eik: a fractional width gives lines anti-aliased edges (else rounded to pixels)
    trace_pt: float | None = None  # None: the spec's line_width (mm)
    pulse_pt: float | None = None
    separator_pt: float | None = None
    separator_grid_fraction: float = 0.0  # eik: separator length = this x the 5 mm grid in px, in mV
    border_pt: float = 0.0  # page frame
    font: str = "default"  # "default" (Pillow's bundled font) or "dejavu" (DejaVu Sans, matplotlib's default)
    label_pt: float | None = None  # lead-label and text size
    label_below_mm: float = 7.0  # eik: text baseline of a lead label below the trace baseline
    ink_gain: float = 1.0  # eik: at most this x the anti-aliasing coverage (clipped): thin traces get a solid core
    pulse_s: tuple[float, float, float] = (0.003, 0.201, 0.206)  # eik: rise, fall, end of the pulse after its start


STYLES: Registry[Style] = Registry("style", error=RenderSpecError)


def register_style(style: Style, *, replace: bool = False) -> Style:
    STYLES.register(style.name, style, replace=replace)
    return style


def get_style(name: str) -> Style:
    return STYLES[name]


register_style(Style("classic"))
register_style(Style(
    "eik", placement="eik", grids=EIK_GRIDS,
    ink_grey=(0.0, 0.2),  # ECG-Image-Kit draws the trace grey uniformly from 0-0.2 per image
    grid_pt=0.5, trace_pt=0.75, pulse_pt=1.125, separator_pt=2.25,
    separator_grid_fraction=0.016,  # its separator ticks grow with dpi: 6.3 mm at 200 dpi, 3.2 mm at 100 dpi
    grid_antialias=True,  # its 0.5 pt lines: a 1 px core and two ~20 % edges at 200 dpi
    border_pt=0.8, font="dejavu", label_pt=11.0, ink_gain=3.0,
))
