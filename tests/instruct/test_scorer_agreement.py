"""Training targets and evaluation parsing agree: for every in-domain ECGBench subset, the gold answers the
instruct builder writes are parsed by that subset's scorer, in strict and in pulse mode, into exactly the gold
labels (as predictions and as references)."""
from __future__ import annotations

import itertools
import random

import pytest

from llava_ecg.eval import parse
from llava_ecg.catalog.subsets import get_subset
from llava_ecg.catalog import labels as L
from llava_ecg.catalog.subsets import ECGQA_PROMPT as BENCH_PROMPT
from llava_ecg.instruct.ecgqa import instruct_item
from llava_ecg.catalog.labels import challenge_space
from llava_ecg.instruct.facts import RecordFacts
from llava_ecg.instruct.indomain import code15_class_list, code15_normal, cpsc_classes, ptb_superclass_list
from llava_ecg.instruct.indomain import _cpsc_list as cpsc_list

MODES = ("strict", "pulse")


def _agree(subset_name: str, answer: str, gold: list[str]) -> None:
    subset = get_subset(subset_name)
    for mode in MODES:
        as_reference = parse.gold_labels(subset, answer, mode=mode)
        as_prediction = parse.pulse_labels(subset, answer) if mode == "pulse" else parse.strict_labels(subset, answer)
        assert sorted(as_reference) == sorted(gold), (mode, answer)
        assert sorted(as_prediction) == sorted(gold), (mode, answer)


def _items(fn, facts, n=12):
    out = [fn(facts, random.Random(seed)) for seed in range(n)]
    return [item for item in out if item is not None]


def test_ptb_superclass_lists():
    checked = 0
    codes = [c for c, *_ in L.PTBXL_SCP if c in L.PTBXL_SCP_CLASS]
    rng = random.Random(0)
    for _ in range(200):
        present = rng.sample(codes, rng.randint(1, 3))
        facts = RecordFacts("ptbxl/r", "ptbxl", L.PTBXL_SPACE, [L.PTBXL_SPACE.by_code[c] for c in present],
                            superclasses=L.ptbxl_superclasses(present))
        for item in _items(ptb_superclass_list, facts, 3):
            assert item.truth["codes"] == facts.superclasses
            _agree("ptb-test", item.turns[0][1], item.truth["codes"])
            checked += 1
    assert checked >= 200


@pytest.mark.parametrize("present", [list(c) for n in range(4) for c in itertools.combinations(
    [label.code for label in L.CODE15_SPACE.labels], n)])
def test_code15_normal_and_class_lists(present):
    for normal in ("NORM", "ABNORMAL"):
        facts = RecordFacts("code15/r", "code15", L.CODE15_SPACE, [L.CODE15_SPACE.by_code[c] for c in present],
                            superclasses=[normal], labels_complete=False)
        for item in _items(code15_normal, facts, 4):
            _agree("code15-test", item.turns[0][1], [normal])
        for item in _items(code15_class_list, facts, 4):
            assert item.truth["codes"] == [c for c in ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF") if c in present]
            _agree("code15-test", item.turns[0][1], item.truth["codes"])


def test_cpsc_style_lists_for_challenge_sources():
    checked = 0
    rng = random.Random(1)
    for source in ("cpsc", "g12", "csn"):
        space = L.CPSC_SPACE if source == "cpsc" else challenge_space(source)
        codes = [label.code for label in space.labels]
        for _ in range(150):
            present = rng.sample(codes, rng.randint(1, 3))
            facts = RecordFacts(f"{source}/r", source, space, [space.by_code[c] for c in present])
            for item in _items(cpsc_list, facts, 2):
                assert item.truth["codes"] == cpsc_classes(facts)
                _agree("cpsc-test", item.turns[0][1], item.truth["codes"])
                checked += 1
    assert checked >= 100
    g12 = challenge_space("g12")
    crbbb = RecordFacts("g12/r", "g12", g12, [g12.by_code["CRBBB"], g12.by_code["VPB"], g12.by_code["NSR"]])
    assert cpsc_classes(crbbb) == ["RBBB", "PVC"]
    assert cpsc_classes(RecordFacts("g12/r", "g12", g12, [g12.by_code["NSR"]])) == ["NORM"]


ECGQA_SAMPLES = [
    dict(question="Does this ECG show left ventricular hypertrophy?", answer=["yes"], template_id=1,
         question_type="single-verify", attribute_type="scp_code", attribute=["left ventricular hypertrophy"],
         options=["no", "not sure", "yes"]),
    dict(question="Does this ECG show atrial fibrillation?", answer=["no"], template_id=1,
         question_type="single-verify", attribute_type="scp_code", attribute=["atrial fibrillation"],
         options=["no", "not sure", "yes"]),
    dict(question="Which diagnostic statements are present?", answer=["inferior myocardial infarction",
                                                                      "left anterior fascicular block"],
         template_id=2, question_type="single-choose", attribute_type="scp_code", attribute=[],
         options=["inferior myocardial infarction", "left anterior fascicular block", "non-specific ischemic",
                  "none"]),
    dict(question="What is the range of the heart rate?", answer=["below 60"], template_id=3,
         question_type="single-query", attribute_type="numeric_feature", attribute=["heart rate"],
         options=["below 60", "60 to 100", "above 100"]),
    dict(question="Which leads show ST elevation?", answer=["lead V2", "lead V3"], template_id=4,
         question_type="single-query", attribute_type="scp_code", attribute=[],
         options=["lead I", "lead II", "lead V2", "lead V3", "none"]),
    dict(question="Is there noise?", answer=["not sure"], template_id=5, question_type="single-verify",
         attribute_type="noise", attribute=["baseline drift"], options=["no", "not sure", "yes"]),
]


def pulse_can_represent(options: list[str], gold: list[str]) -> bool:
    """The authors' ECG-QA scorer matches options as written inside the lower-cased answer: an option with a
    capital never matches, and a wrong option inside a gold one ("no" in "not sure") always does."""
    return all(g == g.lower() for g in gold) and not any(
        o != g and o in g.lower() for o in options if o not in gold for g in gold)


@pytest.mark.parametrize("sample", ECGQA_SAMPLES, ids=lambda s: s["question"][:24])
def test_ecgqa_answers(sample):
    for seed in range(6):
        item = instruct_item(dict(sample), random.Random(seed))
        question, answer = item.turns[0]
        gold = list(sample["answer"])
        # the scorer reads the benchmark's question (the training question's options are the same)
        bench = BENCH_PROMPT.format(question=sample["question"], options=", ".join(sample["options"]))
        assert parse.gold_options(answer) == gold
        assert sorted(parse.strict_ecgqa_answer(question, answer)) == sorted(gold)
        assert set(parse.strict_ecgqa_options(question)) == set(sample["options"])
        assert sorted(parse.strict_ecgqa_answer(bench, answer)) == sorted(gold)
        if pulse_can_represent(sample["options"], gold):
            assert sorted(parse.pulse_ecgqa_answer(bench, answer)) == sorted(gold)
        else:  # the benchmark's own gold has the same fate under the authors' scorer
            assert sorted(parse.pulse_ecgqa_answer(bench, ", ".join(gold))) != sorted(gold)
