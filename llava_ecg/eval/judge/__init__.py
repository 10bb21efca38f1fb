"""LLM-as-judge for ``ptb-test-report`` and ``arena``: the paper's criteria and aggregation on any
OpenAI-compatible endpoint (``llava_ecg.llm``), with a persistent per-item cache and explicit failures.

Aggregation (docs/judge.md): report item score = mean(Diagnosis, Waveform, Rhythm) × 10, subset score = mean over
items; arena item score = mean(Accuracy, Completeness, Instruction Adherence) × 10 over the first two turns judged
in one call, subset score = mean over items. Items the judge failed on (HTTP errors after retries, no parsable
JSON, a missing or out-of-range score) are counted in ``failed`` and left out of the means — never scored 0.
Items are keyed by their full id (the authors' script collapses ``ptb-report-XXXXX_hr-0`` ids onto ``"0"``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from llava_ecg.catalog.subsets import REPORT, Subset
from llava_ecg.eval.errors import JudgeNotConfigured
from llava_ecg.eval.judge.layout import LAYOUTS, JudgeLayout, layout_for
from llava_ecg.eval.judge.prompts import PROMPTS, JudgePrompt, arena_messages, prompt_for, register_prompt, report_messages
from llava_ecg.eval.scores import Scores
from llava_ecg.llm import ChatClient, LLMConfig, LLMConfigError, extract_json

#: Arena: the authors judge the first two turns.
ARENA_TURNS = 2

_KEY_ALIASES = {
    "diagnosis": "diagnosis",
    "waveform": "waveform",
    "form": "waveform",
    "wave form": "waveform",
    "morphology": "waveform",
    "rhythm": "rhythm",
    "accuracy": "accuracy",
    "completeness": "completeness",
    "instruction adherence": "instruction_adherence",
    "instructionadherence": "instruction_adherence",
    "instruction_adherence": "instruction_adherence",
    "adherence": "instruction_adherence",
}


@dataclass
class Judgement:
    id: str
    ok: bool
    scores: dict[str, float] = field(default_factory=dict)  # criterion -> 0..10
    item_score: float | None = None  # mean of criteria × 10 (0..100)
    explanations: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    cached: bool = False
    attempts: int = 0
    response: str | None = None  # the judge's raw text

    def as_dict(self) -> dict:
        return asdict(self)


def parse_judgement(text: str | None, criteria: Sequence[str]) -> tuple[dict[str, float], dict[str, str], str | None]:
    """``(scores, explanations, error)`` from the judge's text. Accepts JSON anywhere in the text, any key case,
    ``Waveform`` or ``Form``, ``{"Score": 8}`` / ``{"score": "8/10"}`` / a bare number."""
    data = extract_json(text, want=dict)
    if data is None:
        return {}, {}, f"no JSON object in judge output: {(text or '')[:120]!r}"
    found: dict[str, Any] = {}
    for key, value in data.items():
        canonical = _KEY_ALIASES.get(re.sub(r"[\s_\-]+", " ", str(key)).strip().lower())
        if canonical in criteria and canonical not in found:
            found[canonical] = value
    scores, explanations = {}, {}
    for criterion in criteria:
        if criterion not in found:
            return {}, {}, f"judge output lacks {criterion!r} (keys: {list(data)})"
        value = found[criterion]
        explanation = None
        if isinstance(value, Mapping):
            lowered = {str(k).lower(): v for k, v in value.items()}
            explanation = lowered.get("explanation")
            value = lowered.get("score")
        number = _number(value)
        if number is None or not 0 <= number <= 10:
            return {}, {}, f"judge score for {criterion!r} is not a number in 0..10: {value!r}"
        scores[criterion] = number
        if explanation is not None:
            explanations[criterion] = str(explanation)
    return scores, explanations, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*$", value)
        if m:
            return float(m.group(1))
    return None


class Judge:
    """Scores report/arena predictions with an LLM. Construct from a :class:`ChatClient` or the environment."""

    def __init__(self, client: ChatClient, *, prompt_name: dict[str, str] | None = None,
                 prompt_file: dict[str, str] | None = None, progress: bool = True, layout: str | None = None):
        self.client = client
        self.layout = layout_for(layout)
        self.prompt_name = prompt_name or {}
        self.prompt_file = prompt_file or {}
        self.progress = progress

    @classmethod
    def from_env(cls, *, progress: bool = True, prompt_file: dict[str, str] | None = None, layout: str | None = None,
                 **overrides: Any) -> Judge:
        """``LLMConfig.from_env`` with judge defaults: temperature 0, JSON mode, cache in
        ``$LLAVA_ECG_LLM_CACHE`` or ``~/.cache/llava_ecg/llm``."""
        from llava_ecg.llm import default_cache_dir

        if overrides.get("json_mode") is None:
            overrides["json_mode"] = True
        if overrides.get("cache_dir") is None:
            overrides["cache_dir"] = str(default_cache_dir())
        try:
            config = LLMConfig.from_env(**overrides)
        except LLMConfigError as exc:
            raise JudgeNotConfigured(
                f"{exc}. The report and arena subsets are scored by an LLM judge: give --judge-url/--judge-model "
                "(or set LLAVA_ECG_LLM_BASE_URL and LLAVA_ECG_LLM_MODEL), see docs/judge.md"
            ) from exc
        return cls(ChatClient(config), progress=progress, prompt_file=prompt_file, layout=layout)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def model(self) -> str:
        return self.client.config.model

    def prompt(self, kind: str) -> JudgePrompt:
        return prompt_for(kind, name=self.prompt_name.get(kind), instruction_file=self.prompt_file.get(kind))

    def judge(self, subset: Subset, pairs: Sequence[tuple[Any, Mapping]]) -> list[Judgement]:
        """One :class:`Judgement` per ``(prediction, compact reference)`` pair, in order."""
        prompt = self.prompt(subset.kind)
        requests, ready = [], {}
        for index, (prediction, ref) in enumerate(pairs):
            if subset.kind == REPORT:
                requests.append((index, report_messages(prompt, str(ref["gold"]), "" if prediction is None else str(prediction),
                                                         self.layout)))
                continue
            turns = [tuple(t) for t in ref["turns"]][:ARENA_TURNS]
            answers = _arena_answers(prediction)
            if len(answers) < len(turns):
                ready[index] = Judgement(ref["id"], False, error=f"prediction has {len(answers)} answer(s) for {len(turns)} turns")
                continue
            requests.append((index, arena_messages(prompt, turns, answers[: len(turns)], self.layout)))
        results = self.client.complete_many([m for _, m in requests], desc=f"judge {subset.name}", progress=self.progress)
        for (index, _), result in zip(requests, results):
            ref_id = pairs[index][1]["id"]
            if not result.ok:
                ready[index] = Judgement(ref_id, False, error=result.error, attempts=result.attempts)
                continue
            scores, explanations, error = parse_judgement(result.text, prompt.criteria)
            if error is not None and self.client.cache is not None:
                self.client.cache.delete(self.client.config.model, result.key)  # unusable: ask again next run
            ready[index] = Judgement(
                ref_id, error is None, scores, 10 * float(np.mean(list(scores.values()))) if error is None else None,
                explanations, error, result.cached, result.attempts, result.text,
            )
        return [ready[i] for i in range(len(pairs))]


def _arena_answers(prediction: Any) -> list[str]:
    if prediction is None:
        return []
    if isinstance(prediction, str):
        try:
            decoded = json.loads(prediction)
        except json.JSONDecodeError:
            return [prediction]
        prediction = decoded if isinstance(decoded, list) else [prediction]
    answers = []
    for turn in prediction:
        answers.append(str(turn.get("answer", "")) if isinstance(turn, Mapping) else str(turn))
    return answers


def score_judged(subset: Subset, pairs, *, judge: Judge | None, bootstrap: int, seed: int):
    """Judge every pair and aggregate the paper's way; see the module docstring."""
    from llava_ecg.eval import metrics

    own = judge is None
    judge = Judge.from_env() if own else judge
    try:
        judgements = judge.judge(subset, pairs)
    finally:
        if own:  # a judge we opened from the environment: close its HTTP connections
            judge.close()
    good = [j for j in judgements if j.ok]
    criteria = judge.prompt(subset.kind).criteria
    result = Scores()
    item_scores = np.array([j.item_score for j in good], dtype=float)
    result["score"] = float(item_scores.mean()) if good else float("nan")
    for criterion in criteria:
        result[criterion] = 10 * float(np.mean([j.scores[criterion] for j in good])) if good else float("nan")
    result["n"] = len(judgements)
    result["judged"] = len(good)
    result["failed"] = len(judgements) - len(good)
    result["judge_model"] = judge.model
    if bootstrap:
        result["score_ci95"] = list(metrics.mean_bootstrap(item_scores / 100, resamples=bootstrap, seed=seed))
    result.records = judgements
    return result


__all__ = ["ARENA_TURNS", "LAYOUTS", "Judge", "JudgeLayout", "layout_for", "JudgePrompt", "Judgement", "PROMPTS", "parse_judgement", "register_prompt",
           "score_judged"]
