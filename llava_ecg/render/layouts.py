"""Page layouts: which lead goes where, and which time window it shows. A registry, so a new layout is one function.

A layout is a list of ``Panel``s on ``rows`` rows. ``start``/``stop`` are fractions of the page's trace width
*and* of the page's time window (10 s at 25 mm/s), so each column of a ``3x4`` shows its own 2.5 s, as
clinical machines and ECG-Image-Kit do, and a full-width panel is a rhythm strip.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from llava_ecg.catalog.leads import CHEST_LEADS as CHEST, LIMB_LEADS as LIMB
from llava_ecg.registry import Registry

from .errors import RenderSpecError


@dataclass(frozen=True)
class Panel:
    lead: str
    row: int
    start: float  # fraction of the page width and time window
    stop: float
    strip: bool = False  # a rhythm strip: falls back to another lead when the record lacks this one


@dataclass(frozen=True)
class Layout:
    name: str
    rows: int
    panels: tuple[Panel, ...]
    paper: str = "letter"  # used when the spec leaves ``paper`` unset


LayoutFn = Callable[[str], Layout]
LAYOUTS: Registry[LayoutFn] = Registry("layout", error=RenderSpecError)


def register_layout(name: str, *aliases: str):
    """Decorator: ``fn(rhythm_lead) -> Layout`` becomes available as ``render(..., layout=name)``."""
    return LAYOUTS.register(name, aliases=aliases)


def get_layout(name: str, rhythm_lead: str = "II") -> Layout:
    return LAYOUTS[name](rhythm_lead)


def _grid(name: str, columns: Sequence[Sequence[str]], strips: Sequence[str] = (), paper: str = "letter") -> Layout:
    """Columns of leads side by side (each its own time window) plus full-width rhythm strips below."""
    n_cols = len(columns)
    panels = [Panel(lead, row, c / n_cols, (c + 1) / n_cols)
              for c, column in enumerate(columns) for row, lead in enumerate(column)]
    depth = max((len(c) for c in columns), default=0)
    panels += [Panel(lead, depth + i, 0.0, 1.0, strip=True) for i, lead in enumerate(strips)]
    return Layout(name, depth + len(strips), tuple(panels), paper)


_COLUMNS_3X4 = (LIMB[:3], LIMB[3:], CHEST[:3], CHEST[3:])


@register_layout("3x4")
def layout_3x4(rhythm_lead: str = "II") -> Layout:
    """Standard 12-lead: 3 rows x 4 columns of 2.5 s plus a 10 s rhythm strip."""
    return _grid("3x4", _COLUMNS_3X4, (rhythm_lead,))


@register_layout("3x4-no-rhythm", "3x4_no_rhythm")
def layout_3x4_no_rhythm(rhythm_lead: str = "II") -> Layout:
    return _grid("3x4-no-rhythm", _COLUMNS_3X4)


@register_layout("3x4-3rhythm")
def layout_3x4_three_strips(rhythm_lead: str = "II") -> Layout:
    """3x4 with V1, II and V5 rhythm strips (a common hospital format)."""
    return _grid("3x4-3rhythm", _COLUMNS_3X4, ("V1", rhythm_lead, "V5"))


@register_layout("6x2")
def layout_6x2(rhythm_lead: str = "II") -> Layout:
    """Limb leads over the first 5 s, chest leads over the next 5 s."""
    return _grid("6x2", (LIMB, CHEST))


@register_layout("12x1")
def layout_12x1(rhythm_lead: str = "II") -> Layout:
    return _grid("12x1", (LIMB + CHEST,))


@register_layout("6x2-rhythm")
def layout_6x2_rhythm(rhythm_lead: str = "II") -> Layout:
    """6x2 plus a 10 s rhythm strip (ECG-Image-Kit always adds one)."""
    return _grid("6x2-rhythm", (LIMB, CHEST), (rhythm_lead,))


@register_layout("12x1-rhythm")
def layout_12x1_rhythm(rhythm_lead: str = "II") -> Layout:
    return _grid("12x1-rhythm", (LIMB + CHEST,), (rhythm_lead,))


@register_layout("rhythm", "1x1")
def layout_rhythm(rhythm_lead: str = "II") -> Layout:
    """One full-length strip on a page sized to fit it (small images for tiny models)."""
    return _grid("rhythm", (), (rhythm_lead,), paper="fit")
