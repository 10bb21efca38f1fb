"""The nine ECGBench subsets: what kind of answer each expects and how the paper scores it.

A registry rather than if/else chains so a new benchmark subset (or a user's own test set built with
``llava-ecg build bench``) is one ``register_subset`` call. Label lists, letters and metric names follow
PULSE (arXiv 2410.19008 v1, Tables 2-4) and the authors' scorer semantics.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MULTILABEL = "multilabel"
MCQ = "mcq"
ECGQA = "ecgqa"
REPORT = "report"
ARENA = "arena"
KINDS = (MULTILABEL, MCQ, ECGQA, REPORT, ARENA)

#: Letters the authors' ``extract()`` looks for, in the order it looks (steps 1, 2 and 4).
EXTRACT_LETTERS = tuple("ABCDEFGH")


@dataclass(frozen=True)
class Subset:
    """One ECGBench config.

    ``labels``: fixed label space (multi-label subsets), in the authors' order.
    ``letters``: option letters (MCQ subsets); the pulse-mode random fallback draws from these.
    ``extra_labels``: labels added by special rules (CODE-15's NORM/ABNORMAL).
    ``metrics``: headline metric keys of :func:`llava_ecg.eval.score`, in table order.
    ``paper``: the v1 paper's numbers for this subset, ``{model: {metric: value}}``.
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
    lower_is_better: tuple[str, ...] = ()
    paper: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def label_space(self) -> tuple[str, ...]:
        return self.labels + self.extra_labels


SUBSETS: dict[str, Subset] = {}


def register_subset(subset: Subset) -> Subset:
    if subset.kind not in KINDS:
        raise ValueError(f"subset {subset.name!r}: unknown kind {subset.kind!r} (expected one of {KINDS})")
    SUBSETS[subset.name] = subset
    return subset


def get_subset(name: str) -> Subset:
    """Look up a subset by config name (``cpsc-test``), short name (``cpsc``) or lmms-eval task name
    (``ecgbench_cpsc``, ``ecgbench_ptb_report``)."""
    key = name.strip()
    if key in SUBSETS:
        return SUBSETS[key]
    alias = key.removeprefix("ecgbench_").replace("_", "-")
    for subset in SUBSETS.values():
        if alias in (subset.name, subset.short):
            return subset
    raise KeyError(f"unknown ECGBench subset {name!r}; known: {', '.join(SUBSETS)}")


_ML = ("auc", "f1", "hl")

register_subset(Subset(
    "ptb-test", "ptb", MULTILABEL, "PTB-XL Super", "in", _ML, labels=("NORM", "MI", "STTC", "CD", "HYP"),
    n_paper=2082, lower_is_better=("hl",),
    paper={"PULSE-7B": {"auc": 82.4, "f1": 74.8, "hl": 11.0}, "GPT-4o": {"auc": 55.6, "f1": 28.3, "hl": 26.2},
           "Random": {"auc": 50.3, "f1": 33.2, "hl": 50.1}},
))
register_subset(Subset(
    "ptb-test-report", "ptb-report", REPORT, "PTB-XL Report", "in", ("score",), n_paper=500,
    paper={"PULSE-7B": {"score": 61.3, "diagnosis": 47.7, "waveform": 50.4, "rhythm": 85.7},
           "GPT-4o": {"score": 50.2}, "Random": {"score": 0.0}},
))
register_subset(Subset(
    "code15-test", "code15", MULTILABEL, "CODE-15%", "in", _ML, labels=("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF"),
    extra_labels=("NORM", "ABNORMAL"), n_paper=1400, lower_is_better=("hl",),
    paper={"PULSE-7B": {"auc": 90.7, "f1": 85.4, "hl": 5.0}, "GPT-4o": {"auc": 59.9, "f1": 24.9, "hl": 15.7},
           "Random": {"auc": 48.8, "f1": 15.0, "hl": 32.1}},
))
register_subset(Subset(
    "ecgqa-test", "ecgqa", ECGQA, "ECG-QA", "in", ("acc",), n_paper=1317,
    paper={"PULSE-7B": {"acc": 73.8}, "GPT-4o": {"acc": 35.2}, "Random": {"acc": 16.2}},
))
register_subset(Subset(
    "cpsc-test", "cpsc", MULTILABEL, "CPSC 2018", "out", _ML,
    labels=("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"), n_paper=2061, lower_is_better=("hl",),
    paper={"PULSE-7B": {"auc": 76.9, "f1": 57.6, "hl": 8.6}, "GPT-4o": {"auc": 50.9, "f1": 10.6, "hl": 18.2},
           "Random": {"auc": 51.2, "f1": 15.1, "hl": 28.8}},
))
register_subset(Subset(
    "csn-test-no-cot", "csn", MCQ, "CSN", "out", ("acc",), letters=tuple("ABCDEFGH"), n_paper=1611,
    paper={"PULSE-7B": {"acc": 85.2}, "GPT-4o": {"acc": 57.5}, "Random": {"acc": 11.6}},
))
register_subset(Subset(
    "g12-test-no-cot", "g12", MCQ, "G12EC", "out", ("acc",), letters=tuple("ABCDEFGH"), n_paper=2026,
    paper={"PULSE-7B": {"acc": 78.2}, "GPT-4o": {"acc": 49.2}, "Random": {"acc": 12.1}},
))
register_subset(Subset(
    "mmmu-ecg", "mmmu", MCQ, "MMMU ECG", "out", ("acc",), letters=tuple("ABCD"), n_paper=200,
    paper={"PULSE-7B": {"acc": 58.0}, "GPT-4o": {"acc": 43.5}, "Random": {"acc": 24.2}},
))
register_subset(Subset(
    "arena", "arena", ARENA, "ECG Arena", "out", ("score",), n_paper=50,
    paper={"PULSE-7B": {"score": 38.9}, "GPT-4o": {"score": 33.5}, "Random": {"score": 0.0}},
))

#: The nine ECGBench configs, in the paper's table order (the registry may also hold your own subsets).
ECGBENCH = tuple(SUBSETS)

# Not part of ECGBench: a 4-option rhythm question for test sets built from your own records
# (`llava-ecg build bench --subset rhythm-mcq`; the CPU quickstart evaluates its tiny model on it).
register_subset(Subset(
    "rhythm-mcq", "rhythm", MCQ, "Rhythm MCQ (own records)", "custom", ("acc",), letters=tuple("ABCD"),
))
