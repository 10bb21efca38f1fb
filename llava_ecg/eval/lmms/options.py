"""Score-based AUC: a real ROC from the model's answer log-probabilities over a constrained option set.

The paper's "AUC" is computed on hard 0/1 predictions (= balanced accuracy per class). Here each item's candidate
answers are scored by the model (``log P(" " + option | prompt, image)``, one prefill shared by all options, see
``LlavaEcg.loglikelihood``) and turned into a distribution over the item's options with a softmax. Then:

* multi-label subsets (ptb, code15, cpsc): per class, ROC AUC of ``p(class)`` against the gold labels over the items
  that offered that class; classes with a single gold value are undefined and left out of the mean (reported);
* MCQ (csn, g12, mmmu) and ECG-QA: one pooled ROC over all (item, option) pairs, positive = the option is (one of)
  the gold answer(s); for MCQ also the accuracy of the arg-max option.

Options: multi-label — the subset's labels that appear as whole tokens in the prompt (CODE-15's NORM/ABNORMAL
prompts offer just those two), else all labels; MCQ — the option letters of the prompt; ECG-QA — the candidates
after ``Options:``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from llava_ecg.eval import parse, references
from llava_ecg.catalog.subsets import ECGQA, MCQ, MULTILABEL, Subset, get_subset

SCORED_KINDS = (MULTILABEL, MCQ, ECGQA)


def _whole_token(label: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9-]){re.escape(label)}(?![A-Za-z0-9-])", text) is not None


def option_set(subset: Subset | str, row: Mapping) -> list[str]:
    """Candidate answers for one item (empty for report/arena)."""
    subset = get_subset(subset) if isinstance(subset, str) else subset
    if subset.kind not in SCORED_KINDS:
        return []
    question = references.question(row)
    if subset.kind == MULTILABEL:
        offered = [label for label in subset.label_space if _whole_token(label, question)]
        return offered or list(subset.labels)
    if subset.kind == MCQ:
        letters = [letter for letter in parse.mcq_options(question) if letter in subset.letters]
        return letters or list(subset.letters)
    return list(parse.strict_ecgqa_options(question))


def continuation(option: str, convention: str = "logprob") -> str:
    """What the assistant would write. ``llava_ecg`` appends it to the prompt, which ends in ``"ASSISTANT:"``, so it
    starts with the template's space; lmms-eval's own models (the ``mean_loss`` convention) put it in the assistant
    turn themselves and the template adds that space."""
    return option if convention == "mean_loss" else " " + option


def softmax(logprobs: Sequence[float]) -> np.ndarray:
    x = np.asarray([lp if math.isfinite(lp) else -np.inf for lp in logprobs], dtype=np.float64)
    if not np.isfinite(x).any():
        return np.full(len(x), 1.0 / max(len(x), 1))
    x = np.exp(x - x[np.isfinite(x)].max())
    return x / x.sum()


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def score_based_metrics(subset: Subset | str, items: Sequence[Mapping]) -> dict:
    """``auc_logprob`` (×100) and details from items ``{"options": [...], "logprobs": [...], "gold": ...}``.

    ``gold``: labels (multi-label), a letter (MCQ) or options (ECG-QA), as parsed by ``llava_ecg.eval`` in strict
    mode. ``logprobs`` are higher = more likely (log-probabilities, or a loss negated); an item with
    ``score_problem`` (a value that contradicted the model's convention) makes both metrics NaN, with a ``notice``. Items without option scores are ignored; ``n`` says how many were used.
    """
    subset = get_subset(subset) if isinstance(subset, str) else subset
    usable = [i for i in items if i.get("options") and len(i.get("logprobs") or []) == len(i["options"])]
    out: dict = {"n": len(usable)}
    if not usable:
        out["auc_logprob"] = float("nan")
        return out
    problems = [i for i in usable if i.get("score_problem")]
    if problems:  # the model's scores contradict its convention: the direction is unknown, so no metric
        out.update(auc_logprob=float("nan"), acc_logprob=float("nan"), notice=(
            f"auc_logprob/acc_logprob are NaN: {len(problems)} of {len(usable)} items got option scores that "
            f"contradict the model's '{problems[0].get('score_convention')}' convention "
            f"(e.g. {problems[0]['score_problem']})"))
        return out
    if subset.kind == MULTILABEL:
        per_class = {}
        for label in subset.label_space:
            y, s = [], []
            for item in usable:
                if label in item["options"]:
                    probs = softmax(item["logprobs"])
                    y.append(int(label in set(item["gold"] or [])))
                    s.append(float(probs[item["options"].index(label)]))
            if y:
                per_class[label] = 100 * _auc(np.array(y), np.array(s))
        defined = [v for v in per_class.values() if math.isfinite(v)]
        out["auc_logprob"] = float(np.mean(defined)) if defined else float("nan")
        out["per_class_auc_logprob"] = per_class
        out["undefined_classes"] = sorted(k for k, v in per_class.items() if not math.isfinite(v))
        return out
    y, s, hits = [], [], []
    for item in usable:
        gold = item["gold"]
        gold_set = {gold} if isinstance(gold, str) else {str(g).lower() for g in (gold or [])}
        probs = softmax(item["logprobs"])
        for option, p in zip(item["options"], probs):
            key = option if subset.kind == MCQ else option.lower()
            y.append(int(key in gold_set))
            s.append(float(p))
        best = item["options"][int(np.argmax(probs))]
        hits.append((best if subset.kind == MCQ else best.lower()) in gold_set)
    out["auc_logprob"] = 100 * _auc(np.array(y), np.array(s))
    out["acc_logprob"] = 100 * float(np.mean(hits))
    return out
