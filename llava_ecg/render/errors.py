"""Typed errors of the render stage (both are ``ValueError``s, so callers can catch either)."""
from __future__ import annotations

from llava_ecg.errors import LlavaEcgError


class RenderError(LlavaEcgError):
    """An ECG cannot be drawn (empty signal, no finite samples, no lead the layout can use)."""


class RenderSpecError(LlavaEcgError):
    """A render spec or distortion config is invalid (unknown key, unknown name, out-of-range value)."""
