"""The independent quality judge (PULSE Fig. A8): a second, separately configured model scores each kept item 0-5.

A model grading its own output is lenient, so the judge must be another model: :func:`check_independent` refuses a
judge whose model name equals the generator's (ignoring case and an ``org/`` prefix) unless the caller explicitly
allows it, and then warns on every build.
"""
from __future__ import annotations

import warnings

from llava_ecg.errors import LlavaEcgError

from .parse import Verdict, parse_verdict
from .prompts import JUDGE


class JudgeNotIndependent(LlavaEcgError):
    """The judge is the generator's own model."""


def same_model(a: str, b: str) -> bool:
    norm = lambda name: name.strip().lower().rsplit("/", 1)[-1]  # noqa: E731
    return norm(a) == norm(b)


def check_independent(generator_model: str, judge_model: str, *, allow_same: bool = False) -> bool:
    """True when independent; raises :class:`JudgeNotIndependent` (or warns, with ``allow_same``) otherwise."""
    if not same_model(generator_model, judge_model):
        return True
    message = (f"the judge model {judge_model!r} is the generator model {generator_model!r}: a model scoring its own "
               "output is not an independent check (PULSE Fig. A8); configure another judge model")
    if not allow_same:
        raise JudgeNotIndependent(message + " (or pass --allow-same-judge to proceed anyway)")
    warnings.warn("NOT INDEPENDENT: " + message, stacklevel=2)
    return False


def judge_messages(record_fields: dict, item_text: str) -> list[dict]:
    return JUDGE.messages(item=item_text, **record_fields)


def item_text(kind: str, turns: list[tuple[str, str]]) -> str:
    if kind == "report":
        return f"Revised report: {turns[0][1]}"
    if kind == "task":
        return f"Task: {turns[0][0]}\nResponse: {turns[0][1]}"
    return "\n".join(f"Human: {h}\nAssistant: {a}" for h, a in turns)


__all__ = ["JudgeNotIndependent", "Verdict", "check_independent", "item_text", "judge_messages", "parse_verdict",
           "same_model"]
