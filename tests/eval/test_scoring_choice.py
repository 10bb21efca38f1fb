"""MCQ (csn, g12, mmmu) and ECG-QA: the authors' extraction order, the random fallback, strict parsing."""
import random

import pytest

from llava_ecg.eval import item_for, parse_prediction, score, score_items
from llava_ecg.eval.parse import pulse_letter, strict_letter
from tests.eval.rows import MMMU_PROMPT, ecgqa_row, mcq_rows, row


@pytest.mark.parametrize("text, pulse, strict", [
    ("D", "D", "D"),
    ("(C)", None, "C"),
    ("The rhythm shows LBBB. Answer: C", "B", "C"),  # "B." inside "LBBB." wins alphabetically
    ("Answer: C (IAVB(1st degree av block))", "A", "C"),  # first of A..H anywhere after Answer:
    ("The correct option is E", "E", "E"),
    ("The correct option is ", None, None),  # their script crashes here; we fall through
    ("E. Normal sinus rhythm, but see A. and B.", "A", "E"),
    ("I cannot tell.", None, None),
    ("Answer: AF", "A", None),  # strict: 'A' glued to 'F' is not a letter answer
    ("Answer: B\nOn reflection, the answer is D", "B", "D"),  # strict takes the last statement
    ("Option A looks tempting. Answer: C. Option D is wrong.", "C", "C"),  # "option X" mentions are not answers
])
def test_letter_extraction(text, pulse, strict):
    assert pulse_letter(text) == pulse
    assert strict_letter(text, tuple("ABCDEFGH")) == strict


def test_strict_letter_respects_subset_letters_and_option_text():
    options = {"A": "Sinus rhythm", "B": "Atrial flutter", "C": "Atrial fibrillation", "D": "Junctional rhythm"}
    assert strict_letter("Answer: F", tuple("ABCD")) is None
    assert strict_letter("Atrial fibrillation.", tuple("ABCD"), options) == "C"
    assert strict_letter("Atrial", tuple("ABCD"), options) is None


def test_g12_pulse_random_fallback_sequence_in_document_order():
    golds = ["A. x", "B. x", "C. x", "D. x", "E. x", "F. x"]
    preds = ["A", "no idea", "Answer: B.", "???", "", "F"]
    rows = mcq_rows("g12", golds)
    s = score("g12-test-no-cot", preds, rows, mode="pulse", bootstrap=0)
    rng = random.Random(42)  # the authors' seed, one generator per subset, one choice per unparseable answer
    expected_guesses = [rng.choice("ABCDEFGH") for _ in range(3)]
    letters = [p.prediction for p in s.records]
    assert [letters[1], letters[3], letters[4]] == expected_guesses
    assert letters[0] == "A" and letters[2] == "B" and letters[5] == "F"
    assert s["random_guesses"] == 3 and s["unparseable"] == 3
    correct = [letters[i] == golds[i][0] for i in range(6)]
    assert s["acc"] == pytest.approx(100 * sum(correct) / 6)


def test_mmmu_random_fallback_uses_four_letters():
    rows = [row(f"mmmu-ecg-{i}", MMMU_PROMPT, "C") for i in range(30)]
    s = score("mmmu-ecg", ["hmm"] * 30, rows, mode="pulse", bootstrap=0)
    rng = random.Random(42)
    assert [p.prediction for p in s.records] == [rng.choice("ABCD") for _ in range(30)]


def test_strict_mcq_unparseable_is_wrong_and_counted():
    rows = mcq_rows("csn", ["A. x", "B. x", "C. x"])
    s = score("csn-test-no-cot", ["Answer: A", "unsure", "C)"], rows, mode="strict", bootstrap=0)
    assert s["acc"] == pytest.approx(200 / 3)
    assert s["unparseable"] == 1 and s["random_guesses"] == 0
    assert s.confusion == {"A": {"A": 1}, "B": {"none": 1}, "C": {"C": 1}}


def test_score_items_restores_document_order_for_the_random_fallback():
    golds = [f"{'ABCDEFGH'[i % 8]}. x" for i in range(40)]
    preds = ["?" if i % 3 else golds[i][0] for i in range(40)]
    rows = mcq_rows("g12", golds)
    reference = score("g12-test-no-cot", preds, rows, mode="pulse", bootstrap=100)
    items = [item_for("g12-test-no-cot", p, r, doc_id=i) for i, (p, r) in enumerate(zip(preds, rows))]
    shuffled = items[::-1][:20] + items[::-1][20:]
    random.Random(1).shuffle(shuffled)
    again = score_items("ecgbench_g12", shuffled, mode="pulse", bootstrap=100)
    assert dict(again) == dict(reference)


def test_ecgqa_pulse_quirks_and_strict_fixes():
    rows = [
        ecgqa_row("ptb-xl-1-q_0", "no, not sure, yes", ["not sure"]),
        ecgqa_row("ptb-xl-2-q_0", "lead V1, lead V2, none", ["lead V1"]),
        ecgqa_row("ptb-xl-3-q_0", "left ventricular hypertrophy, right bundle branch block, none",
                  ["left ventricular hypertrophy", "right bundle branch block"]),
        ecgqa_row("ptb-xl-4-q_0", "no, not sure, yes", ["yes"]),
        ecgqa_row("ptb-xl-5-q_0", "no, not sure, yes", "no"),  # a str gold is read as a list
    ]
    preds = ["not sure", "lead V1", "Right bundle branch block, left ventricular hypertrophy", "I can't say", "No."]
    pulse = [parse_prediction("ecgqa-test", p, r, mode="pulse") for p, r in zip(preds, rows)]
    # "no" is inside "not sure"; capitalised candidates never match the lower-cased answer
    assert [p.prediction for p in pulse] == [["no", "not sure"], [], ["left ventricular hypertrophy",
                                                                      "right bundle branch block"], [], ["no"]]
    assert [p.correct for p in pulse] == [False, False, True, False, True]
    strict = [parse_prediction("ecgqa-test", p, r, mode="strict") for p, r in zip(preds, rows)]
    assert [p.prediction for p in strict] == [["not sure"], ["lead V1"], ["left ventricular hypertrophy",
                                                                          "right bundle branch block"], [], ["no"]]
    assert [p.correct for p in strict] == [True, True, True, False, True]
    s = score("ecgqa-test", preds, rows, mode="strict", bootstrap=0)
    assert s["acc"] == pytest.approx(80.0) and s["unparseable"] == 1
    assert score("ecgqa-test", preds, rows, mode="pulse", bootstrap=0)["acc"] == pytest.approx(40.0)


def test_ecgqa_accepts_numpy_list_gold_from_parquet():
    import numpy as np

    r = ecgqa_row("ptb-xl-9-q_0", "yes, no", ["yes"])
    r["conversations"] = np.array(r["conversations"], dtype=object)
    r["conversations"][1] = {"from": "gpt", "value": np.array(["yes"], dtype=object)}
    assert parse_prediction("ecgqa-test", "yes", r, mode="pulse").correct
