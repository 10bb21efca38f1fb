"""``llava-ecg select``: training subsets of a released ``ECGInstruct.json`` by source and task (PULSE Tables 5-6).

Streams the 1.34 GB JSON array row by row (:func:`~.io.iter_rows`) and writes every requested subset in the same
pass, so memory stays flat whatever the file size (measured in docs/instruct.md).

A row's **source** is its ``source`` field (``PTB-XL``, ``MIMIC-IV-ECG``, ``CODE-15%``, ``ECG-QA``); rows without
it are placed by id and image folder (``mimic-``/``mimic``; ``code15``/``cod15``; ``ptb-xl`` is PTB-XL, or
ECG-QA when the first question carries ECG-QA's ``Options:`` line, since ECG-QA rows reuse PTB-XL ids and
images). Its **task** is ``metadata.subtask`` (feature, rhythm, morphology, report) and its **format**
``metadata.type``.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from llava_ecg.catalog.ecginstruct import ABLATIONS, SOURCE_LETTERS, TASK_LETTERS
from llava_ecg.errors import LlavaEcgError

from . import io as rio

_SOURCE_ALIASES = {"ptb-xl": "PTB-XL", "ptbxl": "PTB-XL", "mimic-iv-ecg": "MIMIC-IV-ECG", "mimic": "MIMIC-IV-ECG",
                   "code-15%": "CODE-15%", "code15": "CODE-15%", "code-15": "CODE-15%", "ecg-qa": "ECG-QA",
                   "ecgqa": "ECG-QA"}
_ECGQA_OPTIONS = re.compile(r"\nOptions: ")


class SelectError(LlavaEcgError):
    """A selection cannot be made; the message names the file or option."""


def row_source(row: dict) -> str:
    """One of ``SOURCE_LETTERS``' values, or ``"?"``."""
    src = row.get("source")
    if isinstance(src, str) and src.strip().lower() in _SOURCE_ALIASES:
        return _SOURCE_ALIASES[src.strip().lower()]
    ident, image = str(row.get("id", "")).lower(), str(row.get("image", "")).lower()
    if ident.startswith("mimic") or image.startswith("mimic"):
        return "MIMIC-IV-ECG"
    if ident.startswith(("code15", "cod15")) or image.startswith(("code15", "cod15")):
        return "CODE-15%"
    if ident.startswith("ptb-xl") or image.startswith("ptb-xl"):
        turns = row.get("conversations") or [{}]
        first = str(turns[0].get("value", "")) if isinstance(turns[0], dict) else ""
        return "ECG-QA" if _ECGQA_OPTIONS.search(first) else "PTB-XL"
    return "?"


def row_task(row: dict) -> tuple[str, str]:
    meta = row.get("metadata") or {}
    return str(meta.get("subtask", "?")), str(meta.get("type", "?"))


@dataclass
class Selection:
    """Rows whose source is in ``sources`` and task in ``tasks`` (and format in ``formats`` when given)."""

    name: str
    sources: frozenset[str]
    tasks: frozenset[str]
    formats: frozenset[str] = frozenset()
    counts: Counter = field(default_factory=Counter)

    def wants(self, source: str, task: str, fmt: str) -> bool:
        return source in self.sources and task in self.tasks and (not self.formats or fmt in self.formats)


def selection(name: str, sources: str, tasks: str, formats: Iterable[str] = ()) -> Selection:
    """Letters as in the paper: sources ``P M C E``, tasks ``F R M C`` (``C`` = clinical report)."""
    bad = [c for c in sources if c not in SOURCE_LETTERS] + [c for c in tasks if c not in TASK_LETTERS]
    if bad or not sources or not tasks:
        raise SelectError(f"selection {name!r}: sources are letters of PMCE and tasks of FRMC, got "
                          f"{sources!r} / {tasks!r}")
    return Selection(name, frozenset(SOURCE_LETTERS[c] for c in sources), frozenset(TASK_LETTERS[c] for c in tasks),
                     frozenset(formats))


def ablation_selections(table: str) -> list[Selection]:
    if table not in ABLATIONS:
        raise SelectError(f"unknown ablation table {table!r}; known: {', '.join(ABLATIONS)}")
    return [selection(f"{table}-{row.replace('+', '')}", src, tasks) for row, (src, tasks) in ABLATIONS[table].items()]


def select(path, selections: list[Selection], out_dir, *, progress: bool = True) -> dict:
    """One streaming pass over ``path`` writing ``<out_dir>/<selection name>.json`` (JSON arrays) for every
    selection; returns the row counts per selection and per (source, task, format) of the input."""
    from contextlib import ExitStack

    from tqdm.auto import tqdm

    path = Path(path)
    if not path.is_file():
        raise SelectError(f"{path}: no such file")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: Counter = Counter()
    written = Counter()
    with ExitStack() as stack:
        handles = {s.name: stack.enter_context(rio.atomic_open(out / f"{s.name}.json")) for s in selections}
        for fh in handles.values():
            fh.write("[")
        bar = stack.enter_context(tqdm(desc="select", unit="row", disable=not progress))
        for row in rio.iter_rows(path):
            if not isinstance(row, dict):
                raise SelectError(f"{path}: element {sum(seen.values())} is not an object")
            source, (task, fmt) = row_source(row), row_task(row)
            seen[(source, task, fmt)] += 1
            line = None
            for s in selections:
                if s.wants(source, task, fmt):
                    line = line or rio.dumps_row(row)
                    fh = handles[s.name]
                    fh.write(("\n" if written[s.name] == 0 else ",\n") + line)
                    written[s.name] += 1
                    s.counts[(source, task)] += 1
            bar.update(1)
        for name, fh in handles.items():
            fh.write("\n]\n" if written[name] else "]\n")
    return {"input": dict(seen), "written": {s.name: written[s.name] for s in selections},
            "files": {s.name: out / f"{s.name}.json" for s in selections}}
