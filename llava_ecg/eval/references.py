"""Reading ECGBench rows: the question, the gold answer and the arena turns, whatever the export.

Accepted row shapes (all seen in the wild):
- Hugging Face parquet / ``datasets`` rows: ``{id, image_path, image, conversations: [{from, value}, ...]}``;
  ``conversations`` may arrive as a numpy array of dicts (pandas) and ``ecgqa-test`` gold values as lists.
- The authors' README export: ``{id, image, conversations}``; their older report file uses ``conversation``
  (singular) with ``user``/``assistant`` roles.
- ``arena``: ``conversations`` is a list of ``{question, answer}`` turns.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llava_ecg.eval.errors import EvalInputError

_HUMAN = ("human", "user")
_GPT = ("gpt", "assistant")
IMAGE_TOKEN = "<image>"


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)):
        return [value]
    if hasattr(value, "tolist") and not isinstance(value, list):
        return list(value.tolist()) if getattr(value, "ndim", 1) else [value.item()]
    return list(value)


def conversations(row: Mapping) -> list[Mapping]:
    turns = row.get("conversations")
    if turns is None:
        turns = row.get("conversation")
    turns = _as_list(turns)
    if not turns:
        raise EvalInputError(f"reference {reference_id(row)!r}: no 'conversations'")
    return [dict(t) for t in turns]


def reference_id(row: Mapping) -> str:
    for key in ("id", "question_id"):
        if row.get(key) is not None:
            return str(row[key])
    return "<no id>"


def _text(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    items = _as_list(value)
    return [str(v) for v in items]


def question(row: Mapping) -> str:
    """First human turn, without a leading ``<image>`` token (ECGBench rows have none; exports sometimes do)."""
    turns = conversations(row)
    first = turns[0]
    text = first.get("question") if "question" in first else first.get("value")
    if "from" in first and first["from"] not in _HUMAN:
        raise EvalInputError(f"reference {reference_id(row)!r}: first turn is from {first['from']!r}, not human")
    text = _text(text)
    if isinstance(text, list):
        text = "\n".join(text)
    return text.replace(IMAGE_TOKEN + "\n", "", 1) if text.startswith(IMAGE_TOKEN) else text


def gold_answer(row: Mapping) -> str | list[str]:
    """First gpt turn's value: a string, or a list of strings for ``ecgqa-test``."""
    for turn in conversations(row):
        if turn.get("from") in _GPT:
            return _text(turn.get("value"))
        if "answer" in turn:
            return _text(turn["answer"])
    raise EvalInputError(f"reference {reference_id(row)!r}: no gpt/assistant turn with the gold answer")


def arena_turns(row: Mapping) -> list[tuple[str, str]]:
    """``[(question, gold answer), ...]`` for an arena row; from/value pairs are accepted too."""
    turns = conversations(row)
    if all("question" in t for t in turns):
        return [(str(t["question"]), str(t.get("answer") or "")) for t in turns]
    pairs, pending = [], None
    for turn in turns:
        if turn.get("from") in _HUMAN:
            pending = str(turn.get("value", "")).replace(IMAGE_TOKEN + "\n", "")
        elif turn.get("from") in _GPT and pending is not None:
            pairs.append((pending, str(turn.get("value", ""))))
            pending = None
    if not pairs:
        raise EvalInputError(f"reference {reference_id(row)!r}: arena row has no question/answer turns")
    return pairs


def load_references(path: str | Path) -> list[dict]:
    """Rows from ``.json`` (a list, or ``{"data": [...]}``), ``.jsonl``, ``.parquet`` or a folder of parquet shards.

    Image bytes are not loaded: scoring needs only ids and conversations.
    """
    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"{path}: references file not found")
    if path.is_dir():
        shards = sorted(path.rglob("*.parquet"))
        if not shards:
            raise EvalInputError(f"{path}: folder holds no .parquet files")
        rows: list[dict] = []
        for shard in shards:
            rows.extend(_read_parquet(shard))
        return rows
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}: not valid JSON ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise EvalInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if isinstance(data, Mapping):
            data = data.get("data", data.get("rows"))
        if not isinstance(data, list):
            raise EvalInputError(f"{path}: expected a JSON list of ECGBench rows")
        return data
    raise EvalInputError(f"{path}: unsupported references format {suffix!r} (use .json, .jsonl or .parquet)")


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                rows.append(json.loads(raw))  # bytes: json detects UTF-8/16/32
            except json.JSONDecodeError as exc:
                raise EvalInputError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
            except UnicodeDecodeError as exc:
                raise EvalInputError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None
    return rows


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        columns = [c for c in ("id", "image_path", "conversations", "conversation") if c in schema.names]
        table = pq.read_table(path, columns=columns)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise EvalInputError(f"{path}: cannot read parquet ({exc})") from exc
    if "conversations" not in columns and "conversation" not in columns:
        raise EvalInputError(f"{path}: parquet has no 'conversations' column")
    return table.to_pylist()


def normalise_rows(rows: Sequence[Mapping] | Any) -> list[Mapping]:
    """Accept a list of dicts, a pandas DataFrame or a ``datasets.Dataset``."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict("records")
    return list(rows)
