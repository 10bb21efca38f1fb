"""``RenderSpec``: everything that decides an image, as plain JSON, so a sample row can carry its own recipe.

``to_dict()`` always writes every field (stable across releases that only add fields with defaults);
``from_dict()`` fills missing fields with defaults and rejects unknown keys.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from .errors import RenderSpecError
from .layouts import LAYOUTS
from .paper import GRIDS, PAPERS
from .styles import STYLES

FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class RenderSpec:
    layout: str = "3x4"
    style: str = "classic"  # a name in STYLES: "classic" (ours) or "eik" (ECG-Image-Kit's look)
    distort: str | dict | None = None  # preset name ("none", "light", "heavy") or a Compose config dict
    seed: int = 0
    dpi: float = 200.0
    paper: str | None = None  # "letter", "a4", "fit"; None = the layout's own choice
    speed: float = 25.0  # mm/s
    gain: float = 10.0  # mm/mV
    grid: str = "red"
    header: bool = False  # printed id/age/sex/HR/intervals/axis: a possible shortcut, so off by default
    format: str = "png"
    start: float = 0.0  # seconds into the record where the page begins
    rhythm_lead: str = "II"
    line_width: float = 0.25  # mm
    antialias: bool = True
    labels: bool = True
    calibration: bool = True
    footer: bool = True
    jpeg_quality: int = 90

    def __post_init__(self):
        if self.format == "jpeg":
            object.__setattr__(self, "format", "jpg")
        # canonical JSON types: 200 and 200.0 (or numpy scalars) serialise the same way
        for name in ("dpi", "speed", "gain", "start", "line_width"):
            value = getattr(self, name)
            if _number(value):
                object.__setattr__(self, name, float(value))
        for name in ("seed", "jpeg_quality"):
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, name, int(value))
        checks = [
            (self.layout in LAYOUTS, f"unknown layout {self.layout!r}; known: {sorted(LAYOUTS)}"),
            (self.style in STYLES, f"unknown style {self.style!r}; known: {sorted(STYLES)}"),
            (self.paper is None or self.paper in PAPERS, f"unknown paper {self.paper!r}; known: {sorted(PAPERS)}"),
            (self.grid in GRIDS, f"unknown grid {self.grid!r}; known: {sorted(GRIDS)}"),
            (self.format in FORMATS, f"format must be one of {FORMATS}, got {self.format!r}"),
            (_number(self.dpi) and 10 <= self.dpi <= 1200, f"dpi must be in [10, 1200], got {self.dpi!r}"),
            (_number(self.speed) and 1 <= self.speed <= 200, f"speed must be in [1, 200] mm/s, got {self.speed!r}"),
            (_number(self.gain) and 0.5 <= self.gain <= 100, f"gain must be in [0.5, 100] mm/mV, got {self.gain!r}"),
            (_number(self.start) and self.start >= 0, f"start must be >= 0 s, got {self.start!r}"),
            (_number(self.line_width) and 0 < self.line_width <= 2,
             f"line_width must be in (0, 2] mm, got {self.line_width!r}"),
            (isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
             f"seed must be a non-negative int, got {self.seed!r}"),
            (isinstance(self.jpeg_quality, int) and 1 <= self.jpeg_quality <= 100,
             f"jpeg_quality must be an int in [1, 100], got {self.jpeg_quality!r}"),
            (self.distort is None or isinstance(self.distort, (str, dict)),
             f"distort must be None, a preset name or a config dict, got {type(self.distort).__name__}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RenderSpecError(message)
        if not isinstance(self.rhythm_lead, str) or not self.rhythm_lead:
            raise RenderSpecError(f"rhythm_lead must be a lead name, got {self.rhythm_lead!r}")
        if isinstance(self.distort, str):
            _check_preset(self.distort)
        elif self.distort is not None:
            from .distort import get_pipeline

            get_pipeline(self.distort)  # unknown presets, transforms and options fail here, not at render time
        for name in ("header", "antialias", "labels", "calibration", "footer"):
            if not isinstance(getattr(self, name), bool):
                raise RenderSpecError(f"{name} must be true or false, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RenderSpec":
        if isinstance(data, RenderSpec):
            return data
        if not isinstance(data, Mapping):
            raise RenderSpecError(f"a render spec must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RenderSpecError(f"unknown render spec key(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(data))

    def replace(self, **changes) -> "RenderSpec":
        return self.from_dict({**self.to_dict(), **changes})

    @property
    def distorted(self) -> bool:
        return self.distort not in (None, "none")


@lru_cache(maxsize=64)
def _check_preset(name: str) -> None:
    """A preset name is checked once: building its pipeline costs milliseconds, and mixes draw thousands of specs."""
    from .distort import get_pipeline

    get_pipeline(name)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
