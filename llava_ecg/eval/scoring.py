"""``score()``: ECGBench metrics for one subset, in the authors' (``pulse``) or our robust (``strict``) semantics.

The same numbers come out of three doors: :func:`score` (lists of answers and rows), :func:`score_items`
(the (prediction, reference) pairs an lmms-eval aggregation receives) and ``llava-ecg score`` (files).
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from llava_ecg.eval import metrics, parse
from llava_ecg.eval import references as rows_io
from llava_ecg.catalog.subsets import ARENA, ECGQA, MCQ, MULTILABEL, REPORT, Subset, get_subset
from llava_ecg.eval.errors import EvalInputError
from llava_ecg.eval.judge import score_judged
from llava_ecg.eval.scores import Scores

MODES = ("strict", "pulse")
#: The authors seed Python's ``random`` with 42; we create one generator per subset and consume it in order.
PULSE_RANDOM_SEED = 42


@dataclass
class Parsed:
    """One answer, understood. ``prediction``: labels (multi-label), a letter (MCQ) or options (ECG-QA);
    ``parsed``: whether anything usable was found; ``correct``: for accuracy subsets, else ``None``."""

    id: str
    prediction: Any
    gold: Any
    parsed: bool
    correct: bool | None = None
    random_guess: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {MODES}")


def compact_reference(subset: Subset | str, row: Mapping) -> dict:
    """The few JSON-serialisable fields scoring needs: ``{id, question, gold}`` (arena: ``turns``)."""
    subset = get_subset(subset) if isinstance(subset, str) else subset
    if "gold" in row or "turns" in row:
        return dict(row)
    ref = {"id": rows_io.reference_id(row)}
    if subset.kind == ARENA:
        ref["turns"] = [list(t) for t in rows_io.arena_turns(row)]
    else:
        ref["question"] = rows_io.question(row)
        ref["gold"] = rows_io.gold_answer(row)
    return ref


def references_mismatch(subset: Subset | str, rows: Sequence[Mapping], *, mode: str = "strict") -> str | None:
    """Why ``rows`` cannot be references of ``subset`` (none of their answers is in its label space or option
    letters: rows of another subset), or ``None``. Scoring them anyway gives null metrics, not an answer."""
    subset = get_subset(subset) if isinstance(subset, str) else subset
    if not rows:
        return "no reference rows"
    refs = [compact_reference(subset, row) for row in rows]
    if subset.kind == MULTILABEL and not any(parse.gold_labels(subset, r["gold"], mode=mode) for r in refs):
        return (f"none of the {len(refs)} reference answers names a {subset.name} label "
                f"({', '.join(subset.label_space)}): are these rows of another subset?")
    if subset.kind == MCQ and subset.letters and not any(
            parse.gold_letter(r["gold"] if isinstance(r["gold"], str) else (r["gold"] or [""])[0]) in subset.letters
            for r in refs):
        return (f"none of the {len(refs)} reference answers is an option letter ({', '.join(subset.letters)}): "
                "are these rows of another subset?")
    return None


def item_for(subset: Subset | str, prediction: Any, reference: Mapping, *, doc_id: int | None = None) -> dict:
    """A JSON-serialisable scoring item for lmms-eval ``process_results``; :func:`score_items` consumes a list
    of these. ``doc_id`` (the document index) lets the aggregation restore document order."""
    item = {"prediction": prediction, "reference": compact_reference(subset, reference)}
    if doc_id is not None:
        item["doc_id"] = int(doc_id)
    return item


def parse_prediction(subset: Subset | str, text: str, reference: Mapping, *, mode: str = "strict") -> Parsed:
    """Parse one answer against its reference row. Never draws random letters (see :func:`score_items`)."""
    _check_mode(mode)
    subset = get_subset(subset) if isinstance(subset, str) else subset
    ref = compact_reference(subset, reference)
    text = "" if text is None else str(text)
    if subset.kind == MULTILABEL:
        gold = parse.gold_labels(subset, ref["gold"], mode=mode)
        pred = parse.pulse_labels(subset, text) if mode == "pulse" else parse.strict_labels(subset, text)
        return Parsed(ref["id"], pred, gold, parsed=bool(pred))
    if subset.kind == MCQ:
        gold = parse.gold_letter(ref["gold"] if isinstance(ref["gold"], str) else ref["gold"][0])
        if mode == "pulse":
            letter = parse.pulse_letter(text)
        else:
            letter = parse.strict_letter(text, subset.letters, parse.mcq_options(ref.get("question", "")))
        return Parsed(ref["id"], letter, gold, parsed=letter is not None, correct=letter is not None and letter == gold)
    if subset.kind == ECGQA:
        gold = parse.gold_options(ref["gold"])
        question = ref.get("question", "")
        if mode == "pulse":
            pred = parse.pulse_ecgqa_answer(question, text)
            correct = set(pred) == set(gold)
        else:
            pred = parse.strict_ecgqa_answer(question, text)
            correct = bool(pred) and {p.lower() for p in pred} == {g.lower() for g in gold}
        return Parsed(ref["id"], pred, gold, parsed=bool(pred), correct=correct)
    raise EvalInputError(f"subset {subset.name!r} is judged by an LLM; use score()/score_items() with a judge")


def _unpack(item: Any) -> tuple[Any, Mapping, int | None]:
    if isinstance(item, Mapping) and "prediction" in item:
        return item["prediction"], item["reference"], item.get("doc_id")
    try:
        prediction, reference = item
    except (TypeError, ValueError) as exc:
        raise EvalInputError(f"scoring item must be (prediction, reference) or an item_for() dict, got {item!r:.80}") from exc
    return prediction, reference, None


def score_items(
    subset: Subset | str,
    items: Iterable[Any],
    *,
    mode: str = "strict",
    bootstrap: int = 1000,
    seed: int = 0,
    judge: Any = None,
) -> Scores:
    """Score ``(prediction, reference)`` pairs or :func:`item_for` dicts.

    If every item has a ``doc_id`` the items are sorted by it first, so the pulse-mode random fallback
    (``random.Random(42)``, one ``.choice`` per unparseable MCQ answer) is consumed in document order
    whatever order lmms-eval gathered them in.
    """
    _check_mode(mode)
    subset = get_subset(subset) if isinstance(subset, str) else subset
    unpacked = [_unpack(i) for i in items]
    if unpacked and all(d is not None for _, _, d in unpacked):
        unpacked.sort(key=lambda t: t[2])
    if not unpacked:
        raise EvalInputError(f"{subset.name}: nothing to score (0 predictions)")
    if subset.kind in (REPORT, ARENA):

        return score_judged(subset, [(p, compact_reference(subset, r)) for p, r, _ in unpacked],
                            judge=judge, bootstrap=bootstrap, seed=seed)
    parsed = [parse_prediction(subset, p, r, mode=mode) for p, r, _ in unpacked]
    if subset.kind == MULTILABEL:
        result = _score_multilabel(subset, parsed, mode=mode, bootstrap=bootstrap, seed=seed)
    else:
        if subset.kind == MCQ and mode == "pulse":
            _random_fallback(parsed, subset.letters)
        result = _score_accuracy(subset, parsed, bootstrap=bootstrap, seed=seed)
    result.records = parsed
    return result


def score(
    subset: str,
    predictions: Sequence[Any],
    references: Sequence[Mapping] | Any,
    *,
    mode: str = "strict",
    bootstrap: int = 1000,
    seed: int = 0,
    judge: Any = None,
) -> Scores:
    """Score one ECGBench subset.

    ``predictions``: the model's answers in the order of ``references`` (arena: a list of per-turn answers per
    item). ``references``: ECGBench rows as published (dicts with ``id`` and ``conversations``; a DataFrame or
    ``datasets.Dataset`` works too). ``mode``: ``"strict"`` (default) or ``"pulse"`` (the authors' semantics).
    ``bootstrap``: number of seeded resamples for the ``*_ci95`` intervals (0 = none). ``judge``: an
    :class:`llava_ecg.eval.judge.Judge` for ``ptb-test-report`` and ``arena`` (default: from the environment).
    """
    rows = rows_io.normalise_rows(references)
    predictions = list(predictions)
    if len(predictions) != len(rows):
        raise EvalInputError(f"{subset}: {len(predictions)} predictions but {len(rows)} references")
    return score_items(subset, list(zip(predictions, rows)), mode=mode, bootstrap=bootstrap, seed=seed, judge=judge)


def _random_fallback(parsed: list[Parsed], letters: tuple[str, ...]) -> None:
    rng = random.Random(PULSE_RANDOM_SEED)
    for p in parsed:
        if p.prediction is None:
            p.prediction = rng.choice(list(letters))
            p.random_guess = True
            p.correct = p.prediction == p.gold


def _score_accuracy(subset: Subset, parsed: list[Parsed], *, bootstrap: int, seed: int) -> Scores:
    correct = np.array([bool(p.correct) for p in parsed], dtype=float)
    result = Scores(acc=100 * float(correct.mean()), n=len(parsed), unparseable=sum(not p.parsed for p in parsed))
    if subset.kind == MCQ:
        result["random_guesses"] = sum(p.random_guess for p in parsed)
        confusion: dict[str, dict[str, int]] = {}
        for p in parsed:
            row = confusion.setdefault(str(p.gold), {})
            key = str(p.prediction) if p.prediction is not None else "none"
            row[key] = row.get(key, 0) + 1
        result.confusion = confusion
    if bootstrap:
        result["acc_ci95"] = list(metrics.mean_bootstrap(correct, resamples=bootstrap, seed=seed))
    return result


def _score_multilabel(subset: Subset, parsed: list[Parsed], *, mode: str, bootstrap: int, seed: int) -> Scores:
    gold = [p.gold for p in parsed]
    pred = [p.prediction for p in parsed]
    classes = None if mode == "pulse" else subset.label_space
    y_true, y_pred, class_names = metrics.binarize(gold, pred, classes)
    nan_safe = mode == "strict"
    counts = metrics.confusion_counts(np.ones((1, len(parsed)), dtype=np.float64), y_true, y_pred)
    closed = metrics.multilabel_from_counts(*counts, nan_safe=nan_safe)
    if mode == "pulse":
        point = metrics.sklearn_multilabel(y_true, y_pred)
    else:
        point = {k: float(closed[k][0]) for k in ("auc", "f1", "hl")}
    result = Scores({k: 100 * v for k, v in point.items()})
    result["n"] = len(parsed)
    result["unparseable"] = sum(not p.parsed for p in parsed)
    tp, fp, fn, _ = (c[0] for c in counts)
    result.per_class = [
        {
            "label": name,
            "support": int(tp[i] + fn[i]),
            "predicted": int(tp[i] + fp[i]),
            "precision": 100 * float(tp[i] / (tp[i] + fp[i])) if tp[i] + fp[i] else float("nan"),
            "recall": 100 * float(tp[i] / (tp[i] + fn[i])) if tp[i] + fn[i] else float("nan"),
            "f1": 100 * float(closed["f1_per_class"][0, i]),
            "auc": 100 * float(closed["auc_per_class"][0, i]),
        }
        for i, name in enumerate(class_names)
    ]
    if bootstrap:
        cis = metrics.multilabel_bootstrap(y_true, y_pred, resamples=bootstrap, seed=seed, nan_safe=nan_safe)
        for key, ci in cis.items():
            result[f"{key}_ci95"] = list(ci)
    return result
