"""Optional LLM pass over built rows: rewrite templated QA into natural phrasing, translate/expand reports,
then score every pair 0-5 with PULSE's quality criteria (Fig. A8) and drop pairs below a threshold.

Uses the project's OpenAI-compatible client (:mod:`llava_ecg.llm`: concurrency limit, retries with backoff on
429/5xx/timeouts, persistent cache keyed by model + request hash that also keeps the raw responses), so a rerun
costs nothing and any vLLM/llama.cpp/OpenAI/Azure endpoint works. What may change is fixed per format, so a
rewrite can never change an answer's meaning unchecked:

* open-ended: question and answer are rewritten (the answer must keep every fact);
* close-ended, fill-in-the-blank, multiple-choice: only the question wording; answers (and MCQ options and the
  ``Answer: X`` line) stay byte-identical;
* reports: translated to English where needed and expanded to at least four sentences without new content (Fig. A7);
* multi-turn: left as built, scored only.

Every failure is explicit: a row whose rewrite fails keeps its templated text, a row whose score cannot be
parsed is kept or dropped per ``on_score_error``, and the manifest row records what happened under ``"llm"``.
The one exception is a report that is not in English: if its translation fails (or comes back not in English) the
row is dropped, never kept in German, and counted (``pop_stats()["dropped_untranslated"]``, in the build's
``llm_summary``).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .engine import IMAGE_TOKEN, is_probably_english

REWRITE_PROMPT = """You rewrite one question-answer pair about an ECG image for a training set.
Keep every medical fact, number, option and label exactly; do not add findings. Vary the wording naturally.
{rule}
Return only JSON: {{"question": "...", "answer": "..."}}

Question: {question}
Answer: {answer}"""
RULES = {
    "open": "Rewrite both the question and the answer.",
    "fixed": "Rewrite only the question; copy the answer unchanged.",
}
REPORT_PROMPT = """Revise the following ECG report. If it is not in English, translate it to English first.
Expand it to at least four sentences in clear clinical English without adding any finding, value or interpretation
that is not in the original. Return only the revised report.

Original report: {report}"""
SCORE_PROMPT = """You are checking the quality of one instruction-answer pair generated from an ECG record.
Rate it from 0 to 5 for relevance to the ECG, medical accuracy, usefulness for training, absence of invented
details, and whether it avoids quoting the source report verbatim (direct quoting caps the score at 2).
Record facts: {facts}
Question: {question}
Answer: {answer}
Give a one-line explanation, then a final line "Score: x"."""
_SCORE = re.compile(r"Score:\s*\**\s*([0-5](?:\.\d+)?)", re.IGNORECASE)


def parse_score(text: str | None) -> float | None:
    matches = _SCORE.findall(text or "")
    return float(matches[-1]) if matches else None


@dataclass
class LLMRefiner:
    """``refine(rows, manifest)`` -> rows and manifest rows kept (same order)."""

    client: object  # llava_ecg.llm.ChatClient
    rewrite: bool = True
    score: bool = True
    threshold: float = 3.0
    on_score_error: str = "keep"  # keep | drop
    progress: bool = False
    stats: Counter = field(default_factory=Counter)

    @classmethod
    def from_url(cls, base_url: str, model: str, *, cache_dir=None, concurrency: int = 8, **kwargs) -> "LLMRefiner":
        from llava_ecg.llm.client import ChatClient, LLMConfig

        config = LLMConfig.from_env(base_url=base_url, model=model, cache_dir=str(cache_dir) if cache_dir else None,
                                    concurrency=concurrency)
        return cls(ChatClient(config), **kwargs)

    def fingerprint(self) -> dict:
        """What decides the output (a build folder refuses a resume with another LLM setup)."""
        config = getattr(self.client, "config", None)
        return {"model": getattr(config, "model", None), "temperature": getattr(config, "temperature", None),
                "rewrite": self.rewrite, "score": self.score, "threshold": self.threshold,
                "on_score_error": self.on_score_error}

    def pop_stats(self) -> dict:
        """Counts since the last call (the build stores them per chunk)."""
        stats, self.stats = dict(self.stats), Counter()
        return stats

    # ---------------------------------------------------------------------------------------------------------
    def refine(self, rows: list[dict], manifest: list[dict]) -> tuple[list[dict], list[dict]]:
        for m in manifest:
            m["llm"] = {}
        if self.rewrite:
            self._rewrite(rows, manifest)
        # the build let non-English reports through for this pass to translate: what is still not English goes
        drop = {i for i, (r, m) in enumerate(zip(rows, manifest))
                if m["family"] == "report" and m["format"] == "open" and not is_probably_english(_answer(r))}
        if drop:
            self.stats["dropped_untranslated"] += len(drop)
            rows = [r for i, r in enumerate(rows) if i not in drop]
            manifest = [m for i, m in enumerate(manifest) if i not in drop]
        if not self.score:
            return rows, manifest
        prompts = [SCORE_PROMPT.format(facts=_facts_text(m), question=_question(r), answer=_answer(r))
                   for r, m in zip(rows, manifest)]
        results = self.client.complete_many(prompts, desc="LLM score", progress=self.progress)
        kept_rows, kept_manifest = [], []
        for row, m, res in zip(rows, manifest, results):
            score = parse_score(res.text) if res.ok else None
            m["llm"]["score"] = score
            m["llm"]["score_key"] = res.key
            if score is None:
                m["llm"]["score_error"] = res.error or "no 'Score: x' line in the reply"
                if self.on_score_error == "drop":
                    continue
            elif score < self.threshold:
                self.stats["dropped_low_score"] += 1
                continue
            kept_rows.append(row)
            kept_manifest.append(m)
        return kept_rows, kept_manifest

    def _rewrite(self, rows: list[dict], manifest: list[dict]) -> None:
        from llava_ecg.llm.jsonx import extract_json

        jobs = []  # (index, kind, prompt)
        for i, (row, m) in enumerate(zip(rows, manifest)):
            if m["family"] == "report" and m["format"] == "open":
                jobs.append((i, "report", REPORT_PROMPT.format(report=_answer(row))))
            elif m["format"] != "multi":
                rule = RULES["open"] if m["format"] == "open" else RULES["fixed"]
                jobs.append((i, "qa", REWRITE_PROMPT.format(rule=rule, question=_stem(row, m), answer=_answer(row))))
        results = self.client.complete_many([p for _, _, p in jobs], desc="LLM rewrite", progress=self.progress)
        for (i, kind, _p), res in zip(jobs, results):
            row, m = rows[i], manifest[i]
            m["llm"]["rewrite_key"] = res.key
            if not res.ok or not (res.text or "").strip():
                m["llm"]["rewrite_error"] = res.error or "empty reply"
                continue
            if kind == "report":
                if not is_probably_english(res.text):
                    m["llm"]["rewrite_error"] = "the revised report is not in English"
                    continue
                row["conversations"][1]["value"] = res.text.strip()
                m["llm"]["rewritten"] = "answer"
                continue
            data = extract_json(res.text, want=dict)
            question = data.get("question") if isinstance(data, dict) else None
            answer = data.get("answer") if isinstance(data, dict) else None
            if not isinstance(question, str) or not question.strip():
                m["llm"]["rewrite_error"] = "reply has no JSON 'question'"
                continue
            _set_stem(row, m, question.strip())
            changed = "question"
            if m["format"] == "open" and isinstance(answer, str) and answer.strip():
                row["conversations"][1]["value"] = answer.strip()
                changed = "question+answer"
            m["llm"]["rewritten"] = changed


def _question(row: dict) -> str:
    return row["conversations"][0]["value"].removeprefix(IMAGE_TOKEN + "\n")


def _answer(row: dict) -> str:
    return row["conversations"][1]["value"]


def _stem(row: dict, m: dict) -> str:
    """The rewritable part of the question: for MCQ the text before the option block."""
    q = _question(row)
    if m["format"] == "mcq":
        return q.split("\nA. ", 1)[0]
    return q


def _set_stem(row: dict, m: dict, stem: str) -> None:
    q = _question(row)
    if m["format"] == "mcq" and "\nA. " in q:
        q = stem + "\nA. " + q.split("\nA. ", 1)[1]
    else:
        q = stem
    row["conversations"][0]["value"] = f"{IMAGE_TOKEN}\n{q}"


def _facts_text(m: dict) -> str:
    meas = ", ".join(f"{k}={v:g}" for k, v in sorted(m.get("measurements", {}).items()))
    return f"labels={', '.join(m.get('labels') or []) or 'none'}; measurements: {meas or 'none'}"
