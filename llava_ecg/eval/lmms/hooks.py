"""The functions ``lmms_eval_tasks/ecgbench/utils.py`` forwards to: prompts, images, per-item results, aggregation.

Per item, ``process_results`` returns the same scoring item under every metric name (lmms-eval hands each metric's
aggregation only its own list); the item says which metric it is for, so one :func:`aggregate` serves all of them.
Corpus metrics (F1, AUC, Hamming loss, accuracy, judge scores) come from :func:`llava_ecg.eval.score_items`, computed
once per subset and mode and cached, so the bootstrap intervals are not recomputed for every metric.

Metric names (``×100``): ``auc``/``f1``/``hl``/``acc``/``score`` — strict mode, our default; ``*_pulse`` — the
authors' semantics (compare these with the paper); ``auc_logprob`` (+ ``acc_logprob`` for MCQ) — the score-based
AUC from answer log-probabilities (:mod:`llava_ecg.eval.lmms.options`); ``unparseable`` — strict-mode count;
``ci95`` — seeded bootstrap 95 % intervals of the strict headline metrics, ``{metric: [lo, hi]}``; judged subsets
also ``failed`` (items the judge could not score — all of them when no judge is configured) and ``judge_model``;
every subset ``conv_template`` — the LLaVA conversation template the model prompted with (``n/a`` for models
without one, e.g. chat models, which apply their own chat template).
Per-class tables, confusion matrices and pulse-mode intervals: ``llava-ecg score`` / ``llava-ecg report`` on the
sample logs, whose per-item entries are exactly these scoring items.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence

from loguru import logger

from llava_ecg.eval import JudgeNotConfigured, get_subset, item_for, parse_prediction, references, score_items
from llava_ecg.eval.lmms.data import row_of
from llava_ecg.eval.lmms.options import option_set, score_based_metrics
from llava_ecg.catalog.subsets import ARENA, MCQ, REPORT

NO_TEMPLATE = "n/a"  # the conv_template metric of a model without a LLaVA conversation template
_CACHE: dict[tuple, dict] = {}
_LOCK = threading.Lock()


def _bootstrap() -> int:
    return int(os.environ.get("ECGBENCH_BOOTSTRAP", "1000"))


# -- prompts and images ----------------------------------------------------------------------------------------
def doc_to_visual(doc: Mapping) -> list:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None, previous_output=None,
                round_idx: int | None = None, previous_round_info=None):
    """The question exactly as published (the model adds its own image marker and template).

    Arena items are two turns: lmms-eval's multi-round protocol calls this again with ``round_idx`` >= 1 and the
    answers so far; we return ``(visuals, text, terminal, previous_output, info)`` — no image after turn one.
    """
    kwargs = lmms_eval_specific_kwargs or {}
    row = row_of(doc)
    subset = get_subset(doc["subset"])
    if subset.kind == ARENA:
        questions = [q for q, _ in references.arena_turns(row)]
        if round_idx is None:
            return kwargs.get("pre_prompt", "") + questions[0] + kwargs.get("post_prompt", "")
        if round_idx < len(questions):
            return None, questions[round_idx], False, previous_output, previous_round_info
        return None, None, True, previous_output, previous_round_info
    return kwargs.get("pre_prompt", "") + references.question(row) + kwargs.get("post_prompt", "")


def _user_turn(text: str, image=None) -> dict:
    content = [{"type": "image", "url": image}] if image is not None else []
    return {"role": "user", "content": content + [{"type": "text", "text": text}]}


def doc_to_messages(doc: Mapping, lmms_eval_specific_kwargs: Mapping | None = None, round_idx: int | None = None,
                    previous_output=None, previous_round_info=None):
    """Chat-model requests (lmms-eval ``ConfigurableMessagesTask`` protocol): the image, then the question exactly as
    published (the text :func:`doc_to_text` gives simple models).

    Arena: called again with ``round_idx`` >= 1 and the model's answers so far; returns
    ``(messages, terminal, previous_output, previous_round_info)`` where ``messages`` is the whole conversation —
    image and first question, then each earlier answer as an ``assistant`` turn and the next question as a ``user``
    turn (the image in the first turn only, as the authors prompted PULSE).
    """
    image = doc_to_visual(doc)[0]
    if round_idx is None:
        return [_user_turn(doc_to_text(doc, lmms_eval_specific_kwargs), image)]
    kwargs = lmms_eval_specific_kwargs or {}
    questions = [q for q, _ in references.arena_turns(row_of(doc))]
    answers = list(previous_output or [])
    if round_idx >= len(questions) or len(answers) < round_idx:
        return None, True, previous_output, previous_round_info
    first = kwargs.get("pre_prompt", "") + questions[0] + kwargs.get("post_prompt", "")
    messages = [_user_turn(first, image)]
    for answer, question in zip(answers[:round_idx], questions[1:round_idx + 1]):
        messages += [{"role": "assistant", "content": [{"type": "text", "text": str(answer)}]}, _user_turn(question)]
    return messages, False, previous_output, previous_round_info


def arena_rounds(doc: Mapping) -> int:
    """How many turns an arena document has (1 for every other subset)."""
    if get_subset(doc["subset"]).kind != ARENA:
        return 1
    return len(references.arena_turns(row_of(doc)))


def doc_to_target(doc: Mapping):
    row = row_of(doc)
    if get_subset(doc["subset"]).kind == ARENA:
        return [a for _, a in references.arena_turns(row)]
    return references.gold_answer(row)


def options_for(doc: Mapping) -> list[str]:
    """Candidate answers scored by log-probability for this document (empty: none)."""
    return option_set(doc["subset"], row_of(doc))


# -- per item --------------------------------------------------------------------------------------------------
def _metric_names(subset) -> list[str]:
    if subset.kind in (REPORT, ARENA):
        return ["score", "failed", "judge_model", "ci95", "conv_template"]
    base = list(subset.metrics)
    names = base + [f"{m}_pulse" for m in base] + (["acc_logprob"] if subset.kind == MCQ else []) + ["auc_logprob"]
    return names + ["unparseable", "ci95", "conv_template"]


def process_results(doc: Mapping, results: Sequence, option_scores: Mapping | None = None,
                    conv_template: str | None = None) -> dict:
    """One scoring item per metric. ``results[0]``: the answer (arena: the list of per-turn answers);
    ``option_scores``: ``{"options": [...], "logprobs": [...], "convention", "problem"}`` when the task asked the
    model to score options; ``logprobs`` are already "higher = more likely", ``convention`` says what the model
    returned and ``problem`` is set when a value contradicts it; ``conv_template``: the template the model prompted
    with (None: it has none)."""
    subset = get_subset(doc["subset"])
    prediction = results[0] if results else ""
    if subset.kind == ARENA and isinstance(prediction, str):
        prediction = [prediction]
    row = row_of(doc)
    item = item_for(subset, prediction, row, doc_id=doc.get("doc_index"))
    item["subset"] = subset.name
    item["conv_template"] = conv_template
    if option_scores and subset.kind not in (REPORT, ARENA):
        item["options"] = list(option_scores["options"])
        item["logprobs"] = [float(x) for x in option_scores["logprobs"]]  # higher = more likely
        item["score_convention"] = option_scores.get("convention", "logprob")
        if option_scores.get("problem"):
            item["score_problem"] = option_scores["problem"]
        item["gold"] = parse_prediction(subset, "", row, mode="strict").gold
    return {name: {**item, "metric": name} for name in _metric_names(subset)}


# -- aggregation -----------------------------------------------------------------------------------------------
def _key(subset: str, kind: str, items: Sequence[Mapping]) -> tuple:
    body = json.dumps([{k: v for k, v in i.items() if k != "metric"} for i in items], sort_keys=True, default=str)
    return subset, kind, hashlib.sha256(body.encode()).hexdigest()


def _scores(subset: str, mode: str, items: Sequence[Mapping]) -> dict:
    key = _key(subset, mode, items)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    if mode == "logprob":
        result = score_based_metrics(subset, items)
        if result.get("notice"):
            logger.warning(f"{subset}: {result['notice']}")
    else:
        clean = [{k: i[k] for k in ("prediction", "reference", "doc_id") if k in i} for i in items]
        try:
            scores = score_items(subset, clean, mode=mode, bootstrap=_bootstrap())
            result = {"metrics": dict(scores), "per_class": scores.per_class, "confusion": scores.confusion}
        except JudgeNotConfigured as exc:  # a failure, reported as such — never a silent 0
            logger.warning(f"{subset}: not judged ({exc}); score with `llava-ecg score` once a judge is set up")
            result = {"metrics": {"score": float("nan"), "failed": len(items), "judge_model": None}, "error": str(exc)}
    with _LOCK:
        _CACHE[key] = result
    return result


def aggregate(items: Sequence[Mapping]) -> float | dict:
    """lmms-eval aggregation for every ECGBench metric (the items name their metric and subset)."""
    if not items:
        return float("nan")
    metric, subset_name = items[0]["metric"], items[0]["subset"]
    if metric == "conv_template":  # one run, one template; several would be listed
        return ", ".join(sorted({str(i.get("conv_template") or NO_TEMPLATE) for i in items}))
    subset = get_subset(subset_name)
    if metric == "ci95":
        strict = _scores(subset.name, "strict", items)["metrics"]
        return {k[: -len("_ci95")]: [round(float(v), 2) for v in strict[k]]
                for k in strict if k.endswith("_ci95") and isinstance(strict[k], (list, tuple))}
    if metric in ("auc_logprob", "acc_logprob"):
        return float(_scores(subset.name, "logprob", items).get(metric, float("nan")))
    mode, name = ("pulse", metric[: -len("_pulse")]) if metric.endswith("_pulse") else ("strict", metric)
    value = _scores(subset.name, mode, items)["metrics"].get(name, float("nan"))
    if name == "judge_model":
        return value or "none"
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

