"""Typed errors of the eval stage; each names the file (or subset) and the problem."""
from __future__ import annotations

from llava_ecg.errors import LlavaEcgError


class EvalInputError(LlavaEcgError):
    """Bad predictions or references: wrong format, mismatched lengths, unknown ids."""


class JudgeNotConfigured(LlavaEcgError):
    """A report/arena subset was scored without an LLM judge (no endpoint given)."""
