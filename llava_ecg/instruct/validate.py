"""Validate ECGInstruct-format row files (the released 1.3 GB ``ECGInstruct.json`` or our builds), streaming.

Every row is checked against the schema (``id``, ``image``, ``conversations`` alternating human/gpt starting with
a human turn whose value begins with ``"<image>\\n"``, no other ``<image>``, ``metadata.subtask``/``type``,
``source``; an optional ``render`` spec for on-the-fly rows) and, given an image root, that its image exists.
Counts per source x subtask x type come out as a Table-A1-style summary.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from . import io as rio
from .engine import IMAGE_TOKEN

KNOWN_TYPES = ("close-ended", "open-ended", "fill-in-the-blank", "multiple-choice", "multi-turn")


def check_row(row) -> list[str]:
    """Problems of one row (empty list = valid)."""
    if not isinstance(row, dict):
        return [f"row is a {type(row).__name__}, not an object"]
    problems = []
    for key in ("id", "image"):
        if not isinstance(row.get(key), str) or not row.get(key):
            problems.append(f"'{key}' missing or not a non-empty string")
    conv = row.get("conversations")
    if not isinstance(conv, list) or len(conv) < 2:
        problems.append("'conversations' missing or shorter than 2 turns")
    else:
        for i, turn in enumerate(conv):
            if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                problems.append(f"conversations[{i}] is not {{from, value: str}}")
                continue
            expected = "human" if i % 2 == 0 else "gpt"
            if turn.get("from") != expected:
                problems.append(f"conversations[{i}].from is {turn.get('from')!r}, expected {expected!r}")
            count = turn["value"].count(IMAGE_TOKEN)
            if i == 0:
                if not turn["value"].startswith(IMAGE_TOKEN + "\n"):
                    problems.append("first human turn does not start with '<image>\\n'")
                elif count > 1:
                    problems.append("first human turn has more than one '<image>'")
            elif count:
                problems.append(f"conversations[{i}] contains '<image>' (only the first turn may)")
            if i % 2 == 1 and not turn["value"].strip():
                problems.append(f"conversations[{i}] (gpt) is empty")
        if len(conv) % 2:
            problems.append("conversations end with a human turn")
    meta = row.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("subtask"), str) or not isinstance(meta.get("type"), str):
        problems.append("'metadata' missing or without string 'subtask' and 'type'")
    if not isinstance(row.get("source"), str) or not row.get("source"):
        problems.append("'source' missing or not a non-empty string")
    render = row.get("render")
    if render is not None and (not isinstance(render, dict) or not render.get("record")):
        problems.append("'render' is present but has no 'record'")
    return problems


@dataclass
class ValidationReport:
    path: str
    rows: int = 0
    invalid_rows: int = 0
    problems: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    missing_images: int = 0
    duplicate_ids: int = 0
    on_the_fly_rows: int = 0  # rows with a render spec: drawn at training time, no image file
    counts: Counter = field(default_factory=Counter)  # (source, subtask, type) -> rows
    turns: Counter = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.invalid_rows == 0 and self.missing_images == 0

    def as_dict(self) -> dict:
        return {"path": self.path, "rows": self.rows, "invalid_rows": self.invalid_rows,
                "problems": dict(self.problems), "examples": self.examples, "missing_images": self.missing_images,
                "duplicate_ids": self.duplicate_ids, "turns": {str(k): v for k, v in sorted(self.turns.items())},
                "counts": [{"source": s, "subtask": t, "type": y, "rows": n}
                           for (s, t, y), n in sorted(self.counts.items())]}


def validate_rows(path, *, image_root=None, max_examples: int = 20, progress: bool = True,
                  check_duplicates: bool = True) -> ValidationReport:
    """Stream ``path`` (JSON array or JSONL) and check every row. Memory: one row plus (with
    ``check_duplicates``) a 16-byte digest per distinct id."""
    import hashlib

    report = ValidationReport(str(path))
    root = Path(image_root) if image_root else None
    seen: set[bytes] = set()
    size = os.path.getsize(path)
    bar = tqdm(desc="validate", unit="row", disable=not progress, total=None, postfix={"MB": round(size / 2**20)})
    try:
        for i, row in enumerate(rio.iter_rows(path)):
            report.rows += 1
            problems = check_row(row)
            if problems:
                report.invalid_rows += 1
                for p in problems:
                    report.problems[p] += 1
                if len(report.examples) < max_examples:
                    rid = row.get("id") if isinstance(row, dict) else None
                    report.examples.append(f"row {i} (id {rid!r}): {'; '.join(problems)}")
            if isinstance(row, dict):
                meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
                report.counts[(str(row.get("source")), str(meta.get("subtask")), str(meta.get("type")))] += 1
                conv = row.get("conversations")
                if isinstance(conv, list):
                    report.turns[len(conv)] += 1
                if check_duplicates and isinstance(row.get("id"), str):
                    digest = hashlib.blake2b(f"{row['id']}\x1f{row.get('image')}\x1f{_first_human(row)}".encode(),
                                             digest_size=16).digest()
                    if digest in seen:
                        report.duplicate_ids += 1
                    seen.add(digest)
                if row.get("render") is not None:
                    report.on_the_fly_rows += 1
                elif root is not None and isinstance(row.get("image"), str):
                    if not (root / row["image"]).is_file():
                        report.missing_images += 1
                        if len(report.examples) < max_examples:
                            report.examples.append(f"row {i} (id {row.get('id')!r}): image {row['image']!r} not under {root}")
            bar.update(1)
    finally:
        bar.close()
    return report


def _first_human(row: dict) -> str:
    conv = row.get("conversations")
    if isinstance(conv, list) and conv and isinstance(conv[0], dict):
        return str(conv[0].get("value"))[:200]
    return ""
