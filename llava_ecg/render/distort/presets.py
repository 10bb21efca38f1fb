"""Named distortion presets. Each is a plain config so ``RenderSpec.distort`` can hold it as JSON."""
from __future__ import annotations

from typing import Any, Mapping

from llava_ecg.registry import Registry

from ..errors import RenderSpecError
from .base import Compose

PRESETS: Registry[dict[str, Any]] = Registry("distortion preset", error=RenderSpecError)
for _name, _config in {
    "none": {"transforms": []},
    # a decent scan or flat photo
    "light": {"transforms": [
        {"type": "grid_dropout", "p": 0.02},
        {"type": "paper_color", "p": 0.5, "yellowing": [0.0, 0.08], "tint": 0.02, "brightness": [0.94, 1.0]},
        {"type": "shading", "p": 0.5, "gradient": [0.0, 0.12], "vignette": [0.0, 0.1], "shadow_p": 0.0},
        {"type": "rotate", "p": 0.5, "limit": 1.5},
        {"type": "perspective", "p": 0.2, "scale": 0.02},
        {"type": "blur", "p": 0.3, "sigma": [0.3, 0.8], "motion_p": 0.0},
        {"type": "noise", "p": 0.5, "sigma": [1.5, 5.0]},
        {"type": "jpeg", "p": 0.3, "quality": [60, 90]},
    ]},
    # a phone photo of a handled, annotated printout
    "heavy": {"transforms": [
        {"type": "grid_dropout", "p": 0.02},
        {"type": "handwriting", "p": 0.5, "count": [1, 4]},
        {"type": "paper_color", "p": 0.8, "yellowing": [0.0, 0.25], "tint": 0.05, "brightness": [0.85, 1.0]},
        {"type": "wrinkles", "p": 0.7, "strength": [0.05, 0.18], "cells": [4, 10]},
        {"type": "creases", "p": 0.5, "count": [1, 3]},
        {"type": "shading", "p": 0.8, "gradient": [0.0, 0.35], "vignette": [0.0, 0.3], "shadow_p": 0.3},
        {"type": "rotate", "p": 0.8, "limit": 5.0},
        {"type": "perspective", "p": 0.7, "scale": 0.06},
        {"type": "crop", "p": 0.5, "max_fraction": 0.05, "aspect": 0.1},
        {"type": "blur", "p": 0.5, "sigma": [0.5, 1.5], "motion_p": 0.25},
        {"type": "noise", "p": 0.8, "sigma": [3.0, 10.0]},
        {"type": "scanner_lines", "p": 0.15},
        {"type": "jpeg", "p": 0.4, "quality": [35, 80]},
    ]},
}.items():
    PRESETS.register(_name, _config)


def get_pipeline(distort: str | Mapping[str, Any] | Compose | None) -> Compose:
    """A preset name, a config dict (``{"transforms": [...]}``), a Compose, or None (no distortion)."""
    if distort is None:
        return Compose([])
    if isinstance(distort, Compose):
        return distort
    if isinstance(distort, str):
        return Compose.from_config(PRESETS[distort])
    return Compose.from_config(distort)
