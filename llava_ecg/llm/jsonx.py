"""Tolerant JSON extraction from LLM output.

Models wrap JSON in prose or code fences, use single quotes, leave trailing commas or — when the prompt shows
``{Diagnosis: {Score: $SCORE$}}`` — leave keys unquoted. :func:`extract_json` recovers the first JSON object
(or array) it can, and returns ``None`` when there is none; callers decide what a failure means.
"""
from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_UNQUOTED_KEY = re.compile(r"(?P<pre>[{,]\s*)(?P<key>[A-Za-z_][A-Za-z0-9_ \-]*?)\s*:(?!//)")
_TRAILING_COMMA = re.compile(r",\s*(?=[}\]])")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def extract_json(text: str | None, *, want: type | tuple[type, ...] = (dict, list)) -> Any | None:
    """The first (outermost) JSON value of type ``want`` found in ``text``, or ``None``.

    Each ``{``/``[`` from left to right is tried as-is, then repaired, so an outer object with unquoted keys
    wins over a valid object nested inside it.
    """
    if not text:
        return None
    candidates = [text.strip()] + [m.group(1).strip() for m in _FENCE.finditer(text)]
    for candidate in candidates:
        value = _first_value(candidate, want)
        if value is not None:
            return value
    return None


def _first_value(text: str, want) -> Any | None:
    for attempt in (text, _repair(text)):
        try:
            value = json.loads(attempt)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, want):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        start = match.start()
        for attempt, offset in ((text, start), (_repair(text[start:]), 0)):
            try:
                value, _ = decoder.raw_decode(attempt, offset)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(value, want):
                return value
    return None


def _repair(text: str) -> str:
    """Best-effort fixes for near-JSON: unquoted keys, single quotes, trailing commas, Python literals."""
    fixed = _UNQUOTED_KEY.sub(lambda m: f'{m.group("pre")}"{m.group("key").strip()}":', text)
    if "'" in text and '"' not in text:
        fixed = re.sub(r"'([^'\\]*(?:\\.[^'\\]*)*)'", lambda m: json.dumps(m.group(1)), fixed)
    fixed = _TRAILING_COMMA.sub("", fixed)
    for py, js in _PY_LITERALS.items():
        fixed = re.sub(rf"(?<=[:\[,\s]){py}(?=\s*[,}}\]])", js, fixed)
    return fixed
