"""The task engine: the ``Item`` a task returns, the task registries and the helpers every task shares.

``@task(family, fmt)`` registers a function ``(facts, rng) -> Item | None`` (``None``: the record has nothing
to ask in that combination); ``@source_task`` registers a source-specific variant of a cell. The task content
lives in :mod:`.tasks` (generic families) and :mod:`.indomain` (the in-domain ECGBench counterparts).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from llava_ecg.registry import Registry

from .facts import RecordFacts

FORMATS: dict[str, str] = {  # format key -> ECGInstruct metadata "type"
    "close": "close-ended",
    "open": "open-ended",
    "fill": "fill-in-the-blank",
    "mcq": "multiple-choice",
    "multi": "multi-turn",
}
LETTERS = "ABCDEFGH"
IMAGE_TOKEN = "<image>"


@dataclass
class Item:
    family: str
    format: str
    turns: list[tuple[str, str]]  # (human, gpt)
    template: str
    asked: list[str] = field(default_factory=list)  # label codes / measurement keys the item is about
    truth: dict[str, Any] = field(default_factory=dict)  # structured answer, for checks and the manifest

    @property
    def type(self) -> str:
        return FORMATS[self.format]


TaskFn = Callable[[RecordFacts, random.Random], "Item | None"]
TASKS: Registry[TaskFn] = Registry("task")


def task(family: str, fmt: str):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    return TASKS.register((family, fmt))


# Source-specific variants of a cell (the in-domain ECGBench counterparts, :mod:`.indomain`): (share, fn) lists.
SOURCE_TASKS: dict[tuple[str, str, str], list[tuple[float, TaskFn]]] = {}


def source_task(source: str, family: str, fmt: str, *, share: float):
    """Register ``fn`` to answer ``share`` of the ``(family, fmt)`` items of ``source``'s records; the generic
    task answers the rest and stands in whenever the variant has nothing to ask."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")

    def wrap(fn: TaskFn) -> TaskFn:
        variants = SOURCE_TASKS.setdefault((source, family, fmt), [])
        if sum(s for s, _ in variants) + share > 1 + 1e-9:
            raise ValueError(f"source tasks of {(source, family, fmt)} share more than 1")
        variants.append((share, fn))
        return fn
    return wrap


def run_task(key: tuple[str, str], facts: RecordFacts, rng: random.Random) -> "Item | None":
    """One item of cell ``key`` for ``facts``: a source variant by its share, else (or if it has nothing to ask)
    the generic task."""
    u, acc = rng.random(), 0.0
    for share, fn in SOURCE_TASKS.get((facts.source, *key), ()):
        acc += share
        if u < acc:
            item = fn(facts, rng)
            if item is not None:
                return item
            break
    return TASKS[key](facts, rng) if key in TASKS else None


def cells() -> set[tuple[str, str]]:
    """Every (family, format) some task can fill."""
    return set(TASKS) | {(f, t) for _s, f, t in SOURCE_TASKS}


def pick(rng: random.Random, key: str, variants: list[str]) -> tuple[str, str]:
    """Choose a phrasing; returns (template id, text)."""
    i = rng.randrange(len(variants))
    return f"{key}#{i}", variants[i]


def join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def mcq_block(options: list[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))


def mcq_answer(letter: str, text: str) -> str:
    """The parseable last line of every multiple-choice answer."""
    return f"Answer: {letter}. {text}"


_GERMAN_MARKERS = (" und ", "rhythmus", "lagetyp", " ekg", "unbest", "verdacht", "linkstyp", "normales",
                   "keine", " bei ", "fÖrmaks", "förmaks", "sinusrytm")


def is_probably_english(text: str) -> bool:
    lowered = f" {text.lower()} "
    return not any(marker in lowered for marker in _GERMAN_MARKERS)


def clean_report(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:1].upper() + text[1:]
