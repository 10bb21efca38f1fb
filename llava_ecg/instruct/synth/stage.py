"""The synthesis stage of ``build instruct``: per chunk of records, plan -> generate -> parse -> ground -> judge.

``Synthesizer.prepare(ref, ecg, build_cfg)`` is called for each record of a chunk (it keeps the facts, not the
signal); ``Synthesizer.run(prepared, build_cfg)`` returns the kept rows, their manifest rows, the review entries
(every item that failed parsing, grounding or the judge, with its reasons) and the chunk's counts. Everything random
comes from ``stable_seed(seed, record, ...)``; every request carries its item's ``seed``, so requests are
content-addressed: the response cache makes a rerun (or a resume after a kill) send no request twice.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llava_ecg.errors import LlavaEcgError, RunFailed
from llava_ecg.llm.client import RETRY_STATUSES
from llava_ecg.llm.jsonx import extract_json

from ..engine import IMAGE_TOKEN
from .grounding import Grounding, GroundingConfig, is_english
from .judge import check_independent, item_text, judge_messages
from .parse import ParseError, parse_dialogue, parse_report, parse_task, parse_verdict
from .prompts import DELIMITERS, DIALOGUE, FRAMINGS, JUDGE, OUTPUT_FORMATS, REPORT, TARGETS, TASK

KINDS = ("task", "dialogue", "report")
REPORT_QUESTIONS = ("Write a clinical report for this ECG.",
                    "Interpret this 12-lead ECG in a written report of several sentences.",
                    "Provide a complete diagnostic report describing the rhythm, intervals, axis and findings.",
                    "Describe this ECG as a cardiologist would in a written report.")


class SynthConfigError(LlavaEcgError):
    """An invalid synthesis option (unknown framing/format name, negative weight, threshold out of range)."""


class SynthIncomplete(RunFailed):
    """Requests failed after all retries (endpoint down, persistent 5xx): the chunk is left unfinished so the same
    command resumes it; answered requests are cached and are not sent again."""


def _weights(spec: dict[str, float] | None, names: dict) -> dict[str, float]:
    if spec is None:
        return {k: 1.0 for k in names}
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise SynthConfigError(f"unknown name(s) {unknown}; known: {sorted(names)}")
    if any(not w >= 0 for w in spec.values()):
        raise SynthConfigError(f"weights must be >= 0: {spec}")
    out = {k: float(w) for k, w in spec.items() if w > 0}
    if not out:
        raise SynthConfigError(f"all weights are 0: {spec}")
    return out


@dataclass
class SynthConfig:
    seed: int = 0
    tasks_per_record: int = 3
    dialogues_per_record: int = 1
    revise_reports: bool = True
    framings: dict[str, float] | None = None  # None = all equally
    formats: dict[str, float] | None = None
    targets: dict[str, float] | None = None
    temperature: float = 0.7
    max_tokens: int = 1024
    judge_threshold: float = 3.0
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    price_in: float | None = None  # USD per 1M prompt tokens (generator and judge alike), for the summary
    price_out: float | None = None
    allow_same_judge: bool = False

    def __post_init__(self):
        self.framings = _weights(self.framings, FRAMINGS)
        self.formats = _weights(self.formats, OUTPUT_FORMATS)
        self.targets = _weights(self.targets, TARGETS)
        if self.tasks_per_record < 0 or self.dialogues_per_record < 0:
            raise SynthConfigError("tasks_per_record and dialogues_per_record must be >= 0")
        if not 0 <= self.judge_threshold <= 5:
            raise SynthConfigError(f"judge_threshold must be within 0-5, got {self.judge_threshold}")


@dataclass
class Prepared:
    ref: str
    facts: Any  # RecordFacts
    row_id: str  # "<prefix>-<record name>"
    image: str
    render: dict
    source_name: str


@dataclass
class Job:
    kind: str
    record: int  # index into the prepared list
    k: int
    seed: int
    messages: list[dict]
    meta: dict


@dataclass
class ChunkOutput:
    rows: list[dict]
    manifest: list[dict]
    review: list[dict]
    stats: dict


def record_fields(facts, report: str | None) -> dict:
    """The record as the prompts show it: findings, measurements, report."""
    names = [label.name for label in facts.labels]
    findings = "; ".join(dict.fromkeys(names)) if names else "none listed"
    units = {"hr": ("heart rate", "bpm"), "pr": ("PR interval", "ms"), "qrs": ("QRS duration", "ms"),
             "qt": ("QT interval", "ms"), "qtc": ("QTc", "ms"), "axis": ("QRS axis", "degrees")}
    meas = [f"{name} {facts.measurements[k]:.0f} {unit}" for k, (name, unit) in units.items()
            if k in facts.measurements]
    return {"findings": findings, "measurements": "; ".join(meas) or "none listed",
            "report": " ".join(report.split()) if report else "none"}


class Synthesizer:
    """``generator`` and ``judge`` are :class:`llava_ecg.llm.ChatClient` s (the judge may be ``None`` only when
    ``judge_threshold`` is unused: tests of the generator alone)."""

    def __init__(self, generator, judge, config: SynthConfig | None = None, *, progress: bool = False):
        self.generator, self.judge, self.config = generator, judge, config or SynthConfig()
        self.progress = progress
        self.judge_independent = True
        if judge is not None:
            self.judge_independent = check_independent(generator.config.model, judge.config.model,
                                                       allow_same=self.config.allow_same_judge)

    def fingerprint(self) -> dict:
        c = self.config
        return {"prompts": [p.tag for p in (TASK, DIALOGUE, REPORT, JUDGE)], "generator": self.generator.config.model,
                "judge": self.judge.config.model if self.judge else None, "seed": c.seed,
                "tasks_per_record": c.tasks_per_record, "dialogues_per_record": c.dialogues_per_record,
                "revise_reports": c.revise_reports, "framings": c.framings, "formats": c.formats,
                "targets": c.targets, "temperature": c.temperature, "max_tokens": c.max_tokens,
                "judge_threshold": c.judge_threshold, "grounding": c.grounding.fingerprint()}

    # ------------------------------------------------------------------ per record (inside the build loop)
    def prepare(self, ref: str, ecg, build_cfg) -> Prepared:
        from llava_ecg.catalog.sources import SOURCES

        from ..build import image_relpath, render_specs
        from ..facts import record_facts
        from ..sources import reader_source

        facts = record_facts(ref, ecg, build_cfg.source)
        spec = render_specs(facts, build_cfg)[0]
        render = {"record": ref, "source": reader_source(facts.source), **spec}
        return Prepared(ref, facts, f"{SOURCES[facts.source].id_prefix}-{facts.name}",
                        image_relpath(facts, 0, spec["format"], build_cfg.image_prefix), render, facts.source_name)

    # ------------------------------------------------------------------ planning
    def plan(self, prepared: list[Prepared]) -> list[Job]:
        from ..build import stable_seed

        c, jobs = self.config, []
        for i, p in enumerate(prepared):
            facts = p.facts
            if not facts.labels and not facts.measurements and not facts.report:
                continue  # nothing to ground an item on
            fields = record_fields(facts, facts.report)
            rng = random.Random(stable_seed(c.seed, p.ref, "synth"))
            for k in range(c.tasks_per_record):
                target = _draw(rng, c.targets)
                framing, fmt = _draw(rng, c.framings), _draw(rng, c.formats)
                delimiter = rng.choice(DELIMITERS) if fmt == "delimiter" else None
                desc = OUTPUT_FORMATS[fmt].format(delimiter=delimiter)
                messages = TASK.messages(target=target, target_desc=TARGETS[target], framing=framing,
                                         framing_desc=FRAMINGS[framing], output_format=fmt, format_desc=desc,
                                         **fields)
                jobs.append(Job("task", i, k, stable_seed(c.seed, p.ref, "synth.task", k), messages,
                                {"target": target, "framing": framing, "output_format": fmt, "delimiter": delimiter}))
            for k in range(c.dialogues_per_record):
                turns = rng.randint(2, 4)
                jobs.append(Job("dialogue", i, k, stable_seed(c.seed, p.ref, "synth.dialogue", k),
                                DIALOGUE.messages(turns=turns, **fields), {"turns": turns}))
            if c.revise_reports and facts.report:
                jobs.append(Job("report", i, 0, stable_seed(c.seed, p.ref, "synth.report"),
                                REPORT.messages(report=fields["report"]),
                                {"question": rng.choice(REPORT_QUESTIONS),
                                 "translated": not is_english(facts.report)}))
        return jobs

    # ------------------------------------------------------------------ the chunk
    def run(self, prepared: list[Prepared], build_cfg) -> ChunkOutput:
        c = self.config
        stats = _new_stats()
        jobs = self.plan(prepared)
        params = [{"seed": j.seed, "temperature": c.temperature, "max_tokens": c.max_tokens} for j in jobs]
        results = self.generator.complete_many([j.messages for j in jobs], params=params, desc="synthesise",
                                               progress=self.progress)
        self._count_requests(stats["requests"]["generator"], results)
        _stop_if_transient(results, "generator")
        rows, manifest, review, candidates = [], [], [], []
        for job, res in zip(jobs, results):
            p = prepared[job.record]
            stats["planned"][_cell(job)] += 1
            item = self._item(job, p, res, build_cfg)
            grounding = Grounding(p.facts, p.facts.report, c.grounding)
            try:
                turns = _parse(job, res)
            except ParseError as exc:
                stats["rejected"][exc.reason] += 1
                review.append(_review(item, "parse", [exc.reason], detail=str(exc), raw=res.text if res.ok else None,
                                      error=None if res.ok else res.error))
                continue
            if job.meta.get("output_format") == "json":
                value = extract_json(turns[0][1], want=(dict, list))
                if value is not None:
                    turns = [(turns[0][0], json.dumps(value, indent=2, ensure_ascii=False))]
            _fill(item, turns, job)
            reasons = _ground(grounding, job, turns)
            item["manifest"]["synth"]["grounding"] = reasons
            if reasons:
                for reason in reasons:
                    stats["rejected"][reason] += 1
                review.append(_review(item, "grounding", reasons, detail=grounding.invented(
                    "\n".join(a for _h, a in turns))))
                continue
            candidates.append((job, p, item, turns))
        if self.judge is None:
            kept = [item for _j, _p, item, _t in candidates]
        else:
            kept = self._judge(candidates, stats, review)
        for item in kept:
            stats["kept"][_cell_of(item)] += 1
            rows.append(item["row"])
            manifest.append(item["manifest"])
        stats["cost_usd"] = self._cost(stats["requests"])
        return ChunkOutput(rows, manifest, review, _plain(stats))

    def _cost(self, requests: dict) -> float:
        """USD for the tokens sent in this run (cached answers cost nothing); 0 without prices."""
        c = self.config
        tokens_in = sum(r["prompt_tokens"] for r in requests.values())
        tokens_out = sum(r["completion_tokens"] for r in requests.values())
        return (tokens_in * (c.price_in or 0.0) + tokens_out * (c.price_out or 0.0)) / 1e6

    def _judge(self, candidates, stats, review) -> list[dict]:
        c = self.config
        requests = [judge_messages(record_fields(p.facts, p.facts.report), item_text(job.kind, turns))
                    for job, p, _item, turns in candidates]
        params = [{"seed": job.seed, "temperature": 0.0, "max_tokens": 256} for job, *_ in candidates]
        results = self.judge.complete_many(requests, params=params, desc="judge", progress=self.progress)
        self._count_requests(stats["requests"]["judge"], results)
        _stop_if_transient(results, "judge")
        kept = []
        for (_job, _p, item, _turns), res in zip(candidates, results):
            verdict = parse_verdict(res.text) if res.ok else None
            judged = {"model": self.judge.config.model, "endpoint": self.judge.config.base_url,
                      "prompt": JUDGE.tag, "request_key": res.key,
                      "score": verdict.score if verdict else None,
                      "criteria": verdict.criteria if verdict else {}, "reason": verdict.reason if verdict else "",
                      "capped_for_quoting": verdict.capped if verdict else False, "independent": self.judge_independent}
            item["manifest"]["synth"]["judge"] = judged
            if verdict is None or verdict.score is None:
                stats["rejected"]["judge_unparsed"] += 1
                review.append(_review(item, "judge", ["judge_unparsed"], detail=res.error or (res.text or "")[:300]))
                continue
            stats["scores"][f"{verdict.score:g}"] += 1
            if verdict.score < c.judge_threshold:
                stats["rejected"]["judge_score"] += 1
                review.append(_review(item, "judge", ["judge_score"], detail=verdict.reason))
                continue
            kept.append(item)
        return kept

    def _item(self, job: Job, p: Prepared, res, build_cfg) -> dict:
        g = self.generator.config
        prompt = {"task": TASK, "dialogue": DIALOGUE, "report": REPORT}[job.kind]
        family = {"task": job.meta.get("target"), "dialogue": "report", "report": "report"}[job.kind]
        fmt = "multi" if job.kind == "dialogue" else "open"
        row = {"id": f"{p.row_id}-s{job.kind[0]}{job.k}", "image": p.image, "conversations": [],
               "metadata": {"subtask": family, "type": "multi-turn" if fmt == "multi" else "open-ended"},
               "source": p.source_name}
        if build_cfg.mode == "on-the-fly":
            row["render"] = p.render
        facts = p.facts
        m = {"id": row["id"], "record": p.ref, "source": facts.source, "patient": facts.patient, "image": p.image,
             "render": p.render, "labels": facts.label_codes(), "measurements": facts.measurements,
             "measurement_origin": facts.measurement_origin, "family": family, "format": fmt,
             "template": prompt.tag, "asked": [], "truth": {}, "seed": build_cfg.seed,
             "synth": {"kind": job.kind, "prompt": prompt.id, "version": prompt.version, **job.meta,
                       "model": g.model, "endpoint": g.base_url, "seed": job.seed, "request_key": res.key,
                       "temperature": self.config.temperature}}
        return {"row": row, "manifest": m}

    @staticmethod
    def _count_requests(counts: Counter, results) -> None:
        for res in results:
            usage = (res.raw or {}).get("usage") if isinstance(res.raw, dict) else None
            usage = usage if isinstance(usage, dict) else {}
            prefix = "cached_" if res.cached else ""
            counts["cached" if res.cached else "answered" if res.ok else "failed"] += 1
            counts["http_requests"] += 0 if res.cached else res.attempts
            counts[prefix + "prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            counts[prefix + "completion_tokens"] += int(usage.get("completion_tokens") or 0)


def _draw(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def _parse(job: Job, res) -> list[tuple[str, str]]:
    if not res.ok:
        raise ParseError("request_failed", res.error or "request failed")
    if job.kind == "task":
        return [parse_task(res.text)]
    if job.kind == "dialogue":
        return parse_dialogue(res.text)
    return [(job.meta["question"], parse_report(res.text))]


def _fill(item: dict, turns: list[tuple[str, str]], job: Job) -> None:
    conversations = []
    for t, (human, gpt) in enumerate(turns):
        conversations.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{human}" if t == 0 else human})
        conversations.append({"from": "gpt", "value": gpt})
    item["row"]["conversations"] = conversations
    if job.kind == "dialogue":
        item["manifest"]["synth"]["turns"] = len(turns)
    from ..build import content_hash
    item["manifest"]["hash"] = content_hash(item["row"])


def _ground(grounding: Grounding, job: Job, turns) -> list[str]:
    if job.kind == "task":
        return grounding.check_task(turns[0][0], turns[0][1], job.meta["output_format"], job.meta.get("delimiter"))
    if job.kind == "dialogue":
        return grounding.check_dialogue(turns)
    return grounding.check_report(turns[0][1])


def _review(item: dict, stage: str, reasons: list[str], *, detail: Any = None, raw: str | None = None,
            error: str | None = None) -> dict:
    synth = item["manifest"]["synth"]
    judge = synth.get("judge") or {}
    entry = {"id": item["row"]["id"], "stage": stage, "reasons": reasons, "score": judge.get("score"),
             "reason": judge.get("reason") or (detail if isinstance(detail, str) else ""),
             "judge_model": judge.get("model"), "detail": detail,
             "row": item["row"] if item["row"]["conversations"] else None, "manifest": item["manifest"]}
    if raw is not None:
        entry["raw"] = raw
    if error is not None:
        entry["error"] = error
    return entry


def _transient(res) -> bool:
    return not res.ok and (res.status is None or res.status in RETRY_STATUSES)


def _stop_if_transient(results, who: str) -> None:
    failed = [r for r in results if _transient(r)]
    if failed:
        raise SynthIncomplete(f"{len(failed)} of {len(results)} {who} requests failed after retries (e.g. "
                              f"{failed[0].error}); answered requests are cached: rerun the same command to resume")


def _cell(job: Job) -> str:
    if job.kind == "task":
        return f"task|{job.meta['framing']}|{job.meta['output_format']}"
    return job.kind


def _cell_of(item: dict) -> str:
    s = item["manifest"]["synth"]
    return f"task|{s['framing']}|{s['output_format']}" if s["kind"] == "task" else s["kind"]


_REQUEST_COUNTS = ("answered", "cached", "failed", "http_requests", "prompt_tokens", "completion_tokens",
                   "cached_prompt_tokens", "cached_completion_tokens")


def _new_stats() -> dict:
    return {"planned": Counter(), "kept": Counter(), "rejected": Counter(), "scores": Counter(),
            "requests": {who: Counter(dict.fromkeys(_REQUEST_COUNTS, 0)) for who in ("generator", "judge")}}


def _plain(stats: dict) -> dict:
    return {k: _plain(v) if isinstance(v, dict) else v for k, v in stats.items()}

