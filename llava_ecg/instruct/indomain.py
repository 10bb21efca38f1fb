"""Training counterparts of the in-domain ECGBench tasks, in the wording family the benchmark uses.

* PTB-XL: diagnostic-superclass multi-label lists (``ptb-test``: NORM/MI/STTC/CD/HYP), in the morphology
  close-ended cell; reports are asked with the ``ptb-test-report`` prompt among others (see :mod:`.tasks`).
* CODE-15%: NORM/ABNORMAL (feature close-ended) and the 6-class list with the paper's ``ABBR(name)`` option
  wording (morphology close-ended). CODE-15% morphology rows come from its conduction classes (1dAVb, RBBB,
  LBBB: block patterns read from the QRS/PR shape); SB/ST/AF are rhythm rows (see docs/instruct.md).
* Challenge sources (CPSC, G12EC, CSN): ``cpsc-test``-style multi-label lists over the nine CPSC classes, with
  SNOMED synonyms and implications mapped (CRBBB -> RBBB, VPB -> PVC, ...), in the rhythm close-ended cell.

Gold answers are bare codes joined by ``"; "`` (or ``NORM``/``ABNORMAL``), so each subset's scorer parses them
into exactly the gold labels in both scoring modes (``tests/instruct/test_scorer_agreement.py``).
"""
from __future__ import annotations

import random

from llava_ecg.catalog.clinical import implied, synonyms
from .facts import RecordFacts
from llava_ecg.catalog.labels import CODE15_SPACE, CPSC_SPACE
from .engine import Item, pick, source_task

PTB_SUPERCLASSES = (("NORM", "Normal ECG"), ("MI", "Myocardial Infarction"), ("STTC", "ST/T Change"),
                    ("CD", "Conduction Disturbance"), ("HYP", "Hypertrophy"))
_LIST_TAILS = ("Directly output the class name and separate with a semicolon.",
               "Answer with the abbreviations only, separated by semicolons.",
               "Only answer based on the given options without any explanation, separating them with a semicolon.")


def _options(pairs) -> str:
    return ", ".join(f"{code}({name})" for code, name in pairs)


def _list_item(family: str, tid: str, question: str, options, gold: list[str], subset: str,
               rng: random.Random) -> Item:
    """A close-ended "list every fitting class" item in the wording of ECGBench's multi-label subsets."""
    q = question.format(opts=_options(options), tail=rng.choice(_LIST_TAILS))
    return Item(family, "close", [(q, "; ".join(gold))], tid, [c for c, _ in options], {"codes": gold, "subset": subset})


# --- PTB-XL superclasses (ptb-test) -------------------------------------------------------------------------------
@source_task("ptbxl", "morphology", "close", share=0.4)
def ptb_superclass_list(facts: RecordFacts, rng: random.Random) -> Item | None:
    gold = [code for code, _ in PTB_SUPERCLASSES if code in facts.superclasses]
    if not gold:
        return None  # no diagnostic statement: nothing to list
    tid, q = pick(rng, "morphology.close.ptb-superclass", [
        "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
        "statement classes:\n{opts}\n{tail}",
        "Which of these diagnostic superclasses apply to this ECG? {opts}. {tail}",
        "Assign every fitting diagnostic class to this 12-lead ECG from the list: {opts}. {tail}",
    ])
    return _list_item("morphology", tid, q, PTB_SUPERCLASSES, gold, "ptb-test", rng)


# --- CODE-15% (code15-test) --------------------------------------------------------------------------------------
@source_task("code15", "feature", "close", share=0.7)
def code15_normal(facts: RecordFacts, rng: random.Random) -> Item | None:
    if facts.superclasses not in (["NORM"], ["ABNORMAL"]):
        return None
    tid, q = pick(rng, "feature.close.code15-normal", [
        "Classify the ECG as normal or abnormal. Provide NORM or ABNORMAL as the output.",
        "Is this ECG normal or abnormal? Answer NORM or ABNORMAL.",
        "Based on the tracing, label this ECG as NORM (normal) or ABNORMAL. Output the label only.",
        "Decide whether this 12-lead ECG is within normal limits. Reply with NORM or ABNORMAL.",
    ])
    return Item("feature", "close", [(q, facts.superclasses[0])], tid, ["NORM", "ABNORMAL"],
                {"codes": list(facts.superclasses), "subset": "code15-test"})


CODE15_OPTION_NAMES = {"1dAVb": "1st degree av block", "RBBB": "right bundle branch block",
                       "LBBB": "left bundle branch block", "SB": "sinus bradycardia", "ST": "sinus tachycardia",
                       "AF": "atrial fibrillation"}


@source_task("code15", "morphology", "close", share=0.5)
def code15_class_list(facts: RecordFacts, rng: random.Random) -> Item | None:
    """The six-class list; its option text is the paper's quoted ``ABBR(name)`` wording."""
    codes = [label.code for label in CODE15_SPACE.labels]
    gold = [c for c in codes if c in facts.label_codes()]
    tid, q = pick(rng, "morphology.close.code15-list", [
        "Identify all fitting options from the provided list, and enumerate them using semicolon: {opts}. "
        "Only answer based on the given options without any explanation.",
        "Which of the following abnormalities are present on this ECG? {opts}. List the abbreviations separated "
        "by semicolons, or answer none.",
        "Select every applicable class for this ECG from: {opts}. Separate your picks with semicolons; answer "
        "none if no class applies.",
    ])
    q = q.format(opts=_options((c, CODE15_OPTION_NAMES[c]) for c in codes))
    return Item("morphology", "close", [(q, "; ".join(gold) if gold else "none")], tid, codes,
                {"codes": gold, "subset": "code15-test"})


# --- Challenge sources: CPSC-style lists (cpsc-test) -------------------------------------------------------------
# CPSC class -> Challenge abbreviations that mean it (synonyms and codes implying it are added by .clinical)
CPSC_FROM_CHALLENGE = {"AF": "AF", "I-AVB": "IAVB", "LBBB": "LBBB", "RBBB": "RBBB", "PAC": "PAC", "PVC": "PVC",
                       "STD": "STD", "STE": "STE"}


def cpsc_classes(facts: RecordFacts) -> list[str]:
    """The record's CPSC 2018 classes; NORM only for a record whose one label is sinus rhythm."""
    present = facts.label_codes()
    if facts.space.name == "cpsc":
        return [label.code for label in CPSC_SPACE.labels if label.code in present]
    space = facts.space.name
    meaning = set()
    for code in present:
        meaning |= synonyms(space, code) | implied(space, code)
    out = [cls for cls, abbr in CPSC_FROM_CHALLENGE.items() if abbr in meaning]
    if not out and present == ["NSR"]:
        out = ["NORM"]
    return [label.code for label in CPSC_SPACE.labels if label.code in out]


CPSC_OPTIONS = tuple((label.code, label.name) for label in CPSC_SPACE.labels)


def _cpsc_list(facts: RecordFacts, rng: random.Random) -> Item | None:
    gold = cpsc_classes(facts)
    if not gold:
        return None
    tid, q = pick(rng, "rhythm.close.cpsc-list", [
        "You are provided with an ECG signal image. Please classify the ECG image into the following diagnostic "
        "statement classes:\n{opts}\n{tail}",
        "Which of these diagnostic classes describe this ECG? {opts}. {tail}",
        "Label this ECG with every fitting class from: {opts}. {tail}",
    ])
    return _list_item("rhythm", tid, q, CPSC_OPTIONS, gold, "cpsc-test", rng)


for _source in ("cpsc", "g12", "csn", "challenge"):
    source_task(_source, "rhythm", "close", share=0.4)(_cpsc_list)
