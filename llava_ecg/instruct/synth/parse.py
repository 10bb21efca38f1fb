"""Parsing model output: ``Task: … / Response: …`` blocks, Human/Assistant dialogues, revised reports and the
judge's criterion lines. A reply that cannot be parsed gives a :class:`ParseError` reason, never a guess."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from llava_ecg.llm.jsonx import extract_json


class ParseError(ValueError):
    """``reason`` is one of ``malformed``, ``refusal``, ``empty``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


_REFUSAL = re.compile(r"^\s*(?:I'?m sorry|I am sorry|I cannot|I can'?t|I'm unable|I am unable|As an AI|"
                      r"Sorry,|I won'?t|I do not feel comfortable)", re.IGNORECASE)
# "Task:", "**Task:**", "### Task", "Task 1:" at the start of a line
_LABEL = r"^[ \t>#*_]*(?:{name})(?:\s*\d+)?[ \t*_]*:[ \t*_]*"
_TASK = re.compile(_LABEL.format(name="task"), re.IGNORECASE | re.MULTILINE)
_RESPONSE = re.compile(_LABEL.format(name="response"), re.IGNORECASE | re.MULTILINE)
# accepted only when a reply has no Task/Response label: "Question:" / "Answer:" lines inside a task are content
_TASK_ALT = re.compile(_LABEL.format(name="instruction|question"), re.IGNORECASE | re.MULTILINE)
_RESPONSE_ALT = re.compile(_LABEL.format(name="answer"), re.IGNORECASE | re.MULTILINE)
_TURN = re.compile(r"^[ \t>#*_]*(human|user|clinician|assistant|expert|gpt)[ \t*_]*:[ \t*_]*",
                   re.IGNORECASE | re.MULTILINE)
_HUMAN = {"human", "user", "clinician"}


def _check_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise ParseError("empty", "the reply is empty")
    if _REFUSAL.match(text):
        raise ParseError("refusal", text[:80])
    return text


def _clean(part: str) -> str:
    return part.strip().strip("*_").strip()


def parse_task(text: str | None) -> tuple[str, str]:
    """``(task, response)`` from a reply with exactly one ``Task:`` label followed by one ``Response:`` label."""
    text = _check_text(text)
    tasks = list(_TASK.finditer(text)) or list(_TASK_ALT.finditer(text))
    responses = list(_RESPONSE.finditer(text)) or list(_RESPONSE_ALT.finditer(text))
    if not tasks or not responses:
        raise ParseError("malformed", "no 'Task:' and 'Response:' labels")
    if len(tasks) > 1 or len(responses) > 1:
        raise ParseError("malformed", f"{len(tasks)} tasks and {len(responses)} responses in one reply")
    t, r = tasks[0], responses[0]
    if r.start() < t.end():
        raise ParseError("malformed", "'Response:' comes before 'Task:'")
    task, response = _clean(text[t.end():r.start()]), _clean(text[r.end():])
    if not task or not response:
        raise ParseError("malformed", "empty task or response")
    return task, response


def parse_dialogue(text: str | None, *, min_turns: int = 2, max_turns: int = 4) -> list[tuple[str, str]]:
    """``[(human, assistant), ...]`` from alternating ``Human:`` / ``Assistant:`` lines."""
    text = _check_text(text)
    marks = list(_TURN.finditer(text))
    if not marks:
        raise ParseError("malformed", "no 'Human:' / 'Assistant:' lines")
    parts = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts.append((m.group(1).lower() in _HUMAN, _clean(text[m.end():end])))
    if any(not body for _h, body in parts):
        raise ParseError("malformed", "an empty turn")
    if len(parts) % 2 or any(is_human != (i % 2 == 0) for i, (is_human, _b) in enumerate(parts)):
        raise ParseError("malformed", "turns do not alternate Human, Assistant")
    turns = [(parts[i][1], parts[i + 1][1]) for i in range(0, len(parts), 2)]
    if not min_turns <= len(turns) <= max_turns:
        raise ParseError("malformed", f"{len(turns)} exchanges, expected {min_turns}-{max_turns}")
    return turns


def parse_report(text: str | None) -> str:
    text = _check_text(text)
    text = re.sub(r"^[ \t*_#]*(?:revised |translated )?report[ \t*_]*:[ \t*_]*", "", text, flags=re.IGNORECASE)
    return " ".join(text.split())


@dataclass
class Verdict:
    score: float | None
    reason: str = ""
    criteria: dict[str, object] = field(default_factory=dict)
    capped: bool = False  # quoting capped the score at 2


_SCORE = re.compile(r"^\W*score\W*?:?\s*\**\s*([0-5](?:\.\d+)?)\**\s*(?:/\s*5)?\**\s*\.?\s*$",
                    re.IGNORECASE | re.MULTILINE)
_CRITERION = re.compile(r"^\W*(relevance|accuracy|usefulness|invented details|quoting)\W*:\s*\**\s*([^\n*]+)",
                        re.IGNORECASE | re.MULTILINE)
_REASON = re.compile(r"^\W*(?:reason|explanation)\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
QUOTING_CAP = 2.0


def parse_verdict(text: str | None) -> Verdict:
    """The judge's last ``Score: x`` line (or a JSON ``{"score": x}``); a ``Quoting: yes`` caps it at 2."""
    text = text or ""
    criteria: dict[str, object] = {}
    for name, value in _CRITERION.findall(text):
        value = value.strip().rstrip(".").lower()
        key = name.lower().replace(" ", "_")
        try:
            criteria[key] = float(value)
        except ValueError:
            criteria[key] = value.startswith("yes")
    scores = _SCORE.findall(text)
    score = float(scores[-1]) if scores else None
    reason = (_REASON.findall(text) or [""])[-1].strip()
    if score is None:
        data = extract_json(text, want=dict)
        if isinstance(data, dict):
            lowered = {str(k).lower(): v for k, v in data.items()}
            try:
                score = float(lowered.get("score"))
            except (TypeError, ValueError):
                score = None
            if score is not None and not 0 <= score <= 5:
                score = None
            reason = str(lowered.get("reason") or reason)
            if isinstance(lowered.get("quoting"), bool):
                criteria["quoting"] = lowered["quoting"]
    if not reason:
        reason = next((line.strip() for line in text.splitlines() if line.strip()
                       and not _SCORE.match(line) and not _CRITERION.match(line)), "")
    verdict = Verdict(score, reason[:500], criteria)
    if score is not None and criteria.get("quoting") is True and score > QUOTING_CAP:
        verdict.score, verdict.capped = QUOTING_CAP, True
    return verdict
