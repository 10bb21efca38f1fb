"""The nine ECGBench subsets: what each asks (prompt wording, labels, letters), which records it is built from,
what kind of answer it expects, and the paper's numbers.

A registry rather than if/else chains so a new benchmark subset (or a user's own test set built with
``llava-ecg build bench``) is one ``register_subset`` call. Label lists, letters and metric names follow
PULSE (arXiv 2410.19008 v1, Tables 2-4) and the authors' scorer semantics. The prompts of ``cpsc-test``,
``code15-test``, ``g12-test-no-cot``/``csn-test-no-cot``, ``ptb-test-report`` and ``ecgqa-test`` are the
published ones, byte for byte; the ``ptb-test`` prompt is not published, ours follows the ``cpsc-test`` wording.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from llava_ecg.registry import Registry, UnknownNameError

from .labels import CODE15_LABELS, CPSC_SPACE, PTBXL_SUPERCLASS_SPACE, Label

MULTILABEL = "multilabel"
MCQ = "mcq"
ECGQA = "ecgqa"
REPORT = "report"
ARENA = "arena"
KINDS = (MULTILABEL, MCQ, ECGQA, REPORT, ARENA)

#: Letters the authors' ``extract()`` looks for, in the order it looks (steps 1, 2 and 4).
EXTRACT_LETTERS = tuple("ABCDEFGH")


def classify_prompt(labels: Iterable[Label]) -> str:
    """The multi-label prompt that lists the classes as ``CODE(name)`` (ECGBench's ``cpsc-test`` wording)."""
    return ("You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
            "statement classes:\n" + ", ".join(label.display() for label in labels)
            + "\nDirectly output the class name and separate with a semicolon.")


CODE15_PROMPT = "Classify the ECG as normal or abnormal. Provide NORM or ABNORMAL as the output."
REPORT_PROMPT = "Write a diagnostic report for this ECG image."
MCQ_PROMPT = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of options. Provide the correct option "
    "directly.\nDetermine the appropriate class for the ECG image.\n")
ECGQA_PROMPT = ("Given this ECG image, please answer the following question. From the provided options, select all "
                "that apply. List your selections, separated by commas.\nQuestion: {question}\nOptions: {options}"
                "\n\nOnly answer based on the given Options without any explanation.")
# Not an ECGBench subset: one fixed 4-option rhythm question; (option text, label codes meaning it).
RHYTHM_MCQ_OPTIONS = (("sinus rhythm", frozenset({"SR", "NSR"})), ("sinus bradycardia", frozenset({"SB", "SBRAD"})),
                      ("sinus tachycardia", frozenset({"STACH"})), ("atrial fibrillation", frozenset({"AF", "AFIB"})))
RHYTHM_MCQ_PROMPT = MCQ_PROMPT.replace("Determine the appropriate class for the ECG image.",
                                       "What is the rhythm of this ECG?") + "\n".join(
    f"{EXTRACT_LETTERS[k]}. {name}" for k, (name, _) in enumerate(RHYTHM_MCQ_OPTIONS))


@dataclass(frozen=True)
class Subset:
    """One ECGBench config.

    ``labels``: fixed label space (multi-label subsets), in the authors' order.
    ``letters``: option letters (MCQ subsets); the pulse-mode random fallback draws from these.
    ``extra_labels``: labels added by special rules (CODE-15's NORM/ABNORMAL).
    ``metrics``: headline metric keys of :func:`llava_ecg.eval.score`, in table order.
    ``paper``: the v1 paper's numbers for this subset, ``{model: {metric: value}}``.
    ``source``: the record source ``llava-ecg build bench`` draws it from (``None``: not buildable / any).
    ``prompt``: the question as ECGBench asks it (MCQ: the text before the options; ECG-QA: a format string).
    ``max_new_tokens``: the authors' generation cap for PULSE on this subset (1024 on every subset; the task
    YAMLs' ``generation_kwargs``); they gave GPT-4o 2000.
    """

    name: str
    short: str  # lmms-eval task suffix: ecgbench_<short with _>
    kind: str
    title: str
    domain: str  # "in" or "out"
    metrics: tuple[str, ...]
    labels: tuple[str, ...] = ()
    extra_labels: tuple[str, ...] = ()
    letters: tuple[str, ...] = ()
    n_paper: int | None = None
    max_new_tokens: int = 1024
    lower_is_better: tuple[str, ...] = ()
    source: str | None = None
    prompt: str = ""

    @property
    def paper(self) -> dict[str, dict[str, float]]:
        """The v1 paper's numbers for this subset, ``{model: {metric: value}}`` (every row of Tables 3-4, from
        :mod:`llava_ecg.catalog.baselines`)."""
        from .baselines import subset_numbers

        return subset_numbers(self.name)

    @property
    def label_space(self) -> tuple[str, ...]:
        return self.labels + self.extra_labels


class UnknownSubsetError(UnknownNameError):
    """A subset name that no ECGBench config, short name or task name matches."""


SUBSETS: Registry[Subset] = Registry("ECGBench subset", error=UnknownSubsetError)


def register_subset(subset: Subset) -> Subset:
    if subset.kind not in KINDS:
        raise ValueError(f"subset {subset.name!r}: unknown kind {subset.kind!r} (expected one of {KINDS})")
    return SUBSETS.register(subset.name, subset, aliases=[a for a in (subset.short,) if a != subset.name])


def get_subset(name: str) -> Subset:
    """Look up a subset by config name (``cpsc-test``), short name (``cpsc``) or lmms-eval task name
    (``ecgbench_cpsc``, ``ecgbench_ptb_report``)."""
    key = name.strip()
    if key not in SUBSETS:
        key = key.removeprefix("ecgbench_").replace("_", "-")
    try:
        return SUBSETS[key]
    except UnknownSubsetError:
        raise UnknownSubsetError(f"unknown ECGBench subset {name!r}; known: {', '.join(SUBSETS)}") from None


_ML = ("auc", "f1", "hl")

register_subset(Subset(
    "ptb-test", "ptb", MULTILABEL, "PTB-XL Super", "in", _ML, labels=PTBXL_SUPERCLASS_SPACE.codes,
    n_paper=2082, lower_is_better=("hl",),
    source="ptbxl", prompt=classify_prompt(PTBXL_SUPERCLASS_SPACE.labels),
))
register_subset(Subset(
    "ptb-test-report", "ptb-report", REPORT, "PTB-XL Report", "in", ("score",), n_paper=500,
    source="ptbxl", prompt=REPORT_PROMPT,
))
register_subset(Subset(
    "code15-test", "code15", MULTILABEL, "CODE-15%", "in", _ML, labels=CODE15_LABELS,
    extra_labels=("NORM", "ABNORMAL"), n_paper=1400, lower_is_better=("hl",),
    source="code15", prompt=CODE15_PROMPT,
))
register_subset(Subset(
    "ecgqa-test", "ecgqa", ECGQA, "ECG-QA", "in", ("acc",), n_paper=1317,
    source="ecgqa", prompt=ECGQA_PROMPT,
))
register_subset(Subset(
    "cpsc-test", "cpsc", MULTILABEL, "CPSC 2018", "out", _ML,
    labels=CPSC_SPACE.codes, n_paper=2061, lower_is_better=("hl",),
    source="cpsc", prompt=classify_prompt(CPSC_SPACE.labels),
))
register_subset(Subset(
    "csn-test-no-cot", "csn", MCQ, "CSN", "out", ("acc",), letters=tuple("ABCDEFGH"), n_paper=1611,
    source="csn", prompt=MCQ_PROMPT,
))
register_subset(Subset(
    "g12-test-no-cot", "g12", MCQ, "G12EC", "out", ("acc",), letters=tuple("ABCDEFGH"), n_paper=2026,
    source="g12", prompt=MCQ_PROMPT,
))
register_subset(Subset(
    "mmmu-ecg", "mmmu", MCQ, "MMMU ECG", "out", ("acc",), letters=tuple("ABCD"), n_paper=200,
))
register_subset(Subset(
    "arena", "arena", ARENA, "ECG Arena", "out", ("score",), n_paper=50,
))

#: The nine ECGBench configs, in the paper's table order (the registry may also hold your own subsets).
ECGBENCH = tuple(SUBSETS)

# Not part of ECGBench: a 4-option rhythm question for test sets built from your own records
# (`llava-ecg build bench --subset rhythm-mcq`; the CPU quickstart evaluates its tiny model on it).
register_subset(Subset(
    "rhythm-mcq", "rhythm", MCQ, "Rhythm MCQ (own records)", "custom", ("acc",), letters=tuple("ABCD"),
    prompt=RHYTHM_MCQ_PROMPT,
))
