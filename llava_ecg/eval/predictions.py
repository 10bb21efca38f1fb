"""Reading model answers produced elsewhere and lining them up with ECGBench rows.

Formats:
- lmms-eval sample logs (``<date>_samples_<task>.jsonl``): one line per doc with ``doc_id`` and
  ``filtered_resps``; if a metric field holds an :func:`llava_ecg.eval.item_for` dict, its ``prediction`` and
  reference id are used (that is exactly what lmms-eval scored).
- The authors' JSONL (``model_ecg_resume.py``): ``{question_id, prompt, text, answer_id, model_id, metadata}``;
  arena (``model_ecg_arena.py``): ``{question_id, predict_convs: [{question, answer}], ...}``.
- A JSON list of answer strings (or of the dicts above), in reference order.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llava_ecg.eval.errors import EvalInputError
from llava_ecg.eval.references import reference_id


@dataclass
class Prediction:
    answer: Any  # str, or a list of per-turn answers (arena)
    id: str | None = None
    doc_id: int | None = None


def load_predictions(path: str | Path) -> list[Prediction]:
    path = Path(path)
    if not path.is_file():
        raise EvalInputError(f"{path}: predictions file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EvalInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    records: list[Any]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}: not valid JSON ({exc})") from exc
        if isinstance(data, Mapping):
            data = data.get("predictions", data.get("data"))
        if not isinstance(data, list):
            raise EvalInputError(f"{path}: expected a JSON list of answers")
        records = data
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise EvalInputError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
    out = []
    for i, record in enumerate(records):
        try:
            out.append(_record(record))
        except EvalInputError as exc:
            raise EvalInputError(f"{path}: record {i}: {exc}") from None
    if not out:
        raise EvalInputError(f"{path}: no predictions")
    return out


def _record(record: Any) -> Prediction:
    if isinstance(record, str) or (isinstance(record, list) and all(isinstance(t, str) for t in record)):
        return Prediction(record)
    if not isinstance(record, Mapping):
        raise EvalInputError(f"unsupported prediction record {record!r:.80}")
    for value in record.values():  # our item_for() dict, logged by lmms-eval as a metric value
        if isinstance(value, Mapping) and "prediction" in value and isinstance(value.get("reference"), Mapping):
            return Prediction(value["prediction"], str(value["reference"].get("id")), value.get("doc_id", record.get("doc_id")))
    if "predict_convs" in record:
        answers = [t.get("answer", "") if isinstance(t, Mapping) else str(t) for t in record["predict_convs"]]
        return Prediction(answers, _maybe_str(record.get("question_id", record.get("id"))))
    if "text" in record:
        return Prediction(record["text"], _maybe_str(record.get("question_id", record.get("id"))))
    if "filtered_resps" in record or "resps" in record:
        answer = record.get("filtered_resps", record.get("resps"))
        while isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        doc_id = record.get("doc_id")
        return Prediction(answer, _maybe_str(record.get("id")), int(doc_id) if doc_id is not None else None)
    if "prediction" in record:
        return Prediction(record["prediction"], _maybe_str(record.get("id")))
    raise EvalInputError(f"no answer field (text, filtered_resps, predict_convs, prediction) in {sorted(record)}")


def _maybe_str(value: Any) -> str | None:
    return None if value is None else str(value)


def align(predictions: Sequence[Prediction], rows: Sequence[Mapping], *, source: str = "predictions"):
    """``(answers, rows)`` in matching order: by id when every prediction has one, else by ``doc_id``, else by
    position. References without a prediction are dropped (a ``--limit`` run); unknown ids are an error."""
    if all(p.id is not None for p in predictions):
        _refuse_duplicates([p.id for p in predictions], "id", source)
        by_id = {reference_id(r): r for r in rows}
        unknown = [p.id for p in predictions if p.id not in by_id]
        if unknown:
            raise EvalInputError(f"{source}: {len(unknown)} ids not in the references, e.g. {unknown[:3]}")
        return [p.answer for p in predictions], [by_id[p.id] for p in predictions]
    if all(p.doc_id is not None for p in predictions):
        _refuse_duplicates([p.doc_id for p in predictions], "doc_id", source)
        bad = [p.doc_id for p in predictions if not 0 <= p.doc_id < len(rows)]
        if bad:
            raise EvalInputError(f"{source}: doc_id out of range for {len(rows)} references, e.g. {bad[:3]}")
        ordered = sorted(predictions, key=lambda p: p.doc_id)
        return [p.answer for p in ordered], [rows[p.doc_id] for p in ordered]
    if len(predictions) != len(rows):
        raise EvalInputError(f"{source}: {len(predictions)} predictions without ids for {len(rows)} references")
    return [p.answer for p in predictions], list(rows)


def _refuse_duplicates(keys: Sequence[Any], what: str, source: str) -> None:
    """Two answers for one reference (e.g. concatenated logs of a resumed run) would be scored twice."""
    seen, dup = set(), []
    for key in keys:
        if key in seen:
            dup.append(key)
        seen.add(key)
    if dup:
        raise EvalInputError(f"{source}: {len(dup)} duplicate prediction {what}(s), e.g. {dup[:3]}; "
                             "keep one answer per reference")
