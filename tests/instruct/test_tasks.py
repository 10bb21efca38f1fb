"""Every family x format: answers agree with the record's labels and measurements, MCQ distractors are never
the answer, answers end in a parseable letter, and phrasings vary with the seed."""
from __future__ import annotations

import random
import re
from collections import defaultdict

import pytest

from llava_ecg.instruct.facts import record_facts
from llava_ecg.catalog.labels import PTBXL_SPACE, generic_codes_from_text, ptbxl_superclasses
from llava_ecg.instruct.engine import LETTERS, TASKS
from llava_ecg.instruct.tasks import MEASURES, NO_MORPHOLOGY, RATE_PATTERNS, name_of, negatives, templated_report

ANSWER_LINE = re.compile(r"(?:^|\n)Answer: ([A-H])\. (.+)$")
SEEDS = range(12)


def _options(question: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-H])\. (.+)$", question, flags=re.M))


def _check(item, facts):
    (human, gpt), *_ = item.turns
    present = set(facts.label_codes())
    names = {label.code: name_of(facts, label).lower() for label in facts.space.labels}
    fam, fmt = item.family, item.format
    if fam == "feature":
        key = item.asked[0]
        if key == "rr_cv":
            irregular = facts.measurements["rr_cv"] > 0.12
            assert item.truth["yes"] == (("irregular" in human) == irregular)
            assert gpt.startswith("Yes" if item.truth["yes"] else "No")
            return
        m, v = MEASURES[key], int(round(facts.measurements[key]))
        lo, hi, text, _ = m.bins[m.bin_index(v)]
        assert lo <= v < hi
        if fmt == "close":
            assert item.truth["yes"] == (text in human)
            assert gpt.startswith("Yes" if item.truth["yes"] else "No")
        elif fmt == "fill":
            assert gpt == str(v)
        elif fmt == "open":
            assert m.show(v) in gpt
        elif fmt == "mcq":
            letter, option = ANSWER_LINE.search(gpt).groups()
            assert _options(human)[letter] == option == text
            assert letter == LETTERS[m.bin_index(v)]
        return
    if fam in ("rhythm", "morphology"):
        if fmt == "close" and "yes" in item.truth:
            code = item.asked[0]
            assert item.truth["yes"] == (code in present)
            assert gpt.startswith("Yes" if code in present else "No")
        elif fmt == "close":  # select-all
            expected = [label.code for label in facts.family_labels(fam)]
            assert gpt == ("; ".join(expected) if expected else "none")
        elif fmt == "open":
            for label in facts.family_labels(fam):
                assert name_of(facts, label).lower() in gpt.lower()
            if not facts.family_labels(fam):
                assert (NO_MORPHOLOGY in gpt) if fam == "morphology" else gpt.startswith("The rhythm is ")
        elif fmt == "fill":
            accepted = {name_of(facts, label).lower() for label in facts.family_labels(fam)}
            assert gpt.lower() in (accepted or ({"normal"} if fam == "morphology" else {"regular", "irregular"}))
        elif fmt == "mcq":
            options = _options(human)
            letter, option = ANSWER_LINE.search(gpt).groups()
            assert options[letter] == option
            if item.truth["code"]:
                assert item.truth["code"] in present
                assert names[item.truth["code"]] == option.lower()
            else:
                assert not facts.family_labels(fam)
                assert option.lower() in ((NO_MORPHOLOGY,) if fam == "morphology" else RATE_PATTERNS)
            distractors = [c for c in item.truth["options"] if c != item.truth["code"] and c]
            if any(item.truth["options"]):  # label options (rate-pattern options carry no codes)
                assert distractors and not set(distractors) & present, "a distractor is a true label"
                assert len(set(options.values())) == len(options), "duplicate option text"
                assert all(d in {x.code for x in negatives(facts, fam)} for d in distractors)
        return
    if fam == "report" and fmt == "open":
        if item.truth["report_kind"] == "templated":
            assert gpt == templated_report(facts)
        else:
            assert " ".join(gpt.lower().split()) == " ".join(facts.report.lower().split())
        return
    if fmt == "multi":
        assert 2 <= len(item.turns) <= 4
        return
    raise AssertionError(f"unchecked task {fam}/{fmt}")


def test_every_task_is_consistent_with_its_record(source_ecgs):
    produced = defaultdict(int)
    for source, ref, ecg in source_ecgs:
        facts = record_facts(ref, ecg, source)
        for key, fn in TASKS.items():
            for seed in SEEDS:
                item = fn(facts, random.Random(seed))
                if item is None:
                    continue
                produced[key] += 1
                assert (item.family, item.format) == key
                assert item.turns and all(h.strip() and g.strip() for h, g in item.turns)
                assert "<image>" not in item.turns[0][0]  # the builder adds it
                _check(item, facts)
    missing = [k for k in TASKS if not produced[k]]
    assert not missing, f"tasks never produced an item: {missing}"


def test_phrasings_vary_with_seed(source_ecgs):
    templates = defaultdict(set)
    for source, ref, ecg in source_ecgs:
        facts = record_facts(ref, ecg, source)
        for key, fn in TASKS.items():
            for seed in range(30):
                item = fn(facts, random.Random(seed))
                if item is not None:
                    templates[key].add(item.template.split("#")[0] + "#" + item.template.split("#")[1])
    for key in [("feature", "open"), ("feature", "close"), ("rhythm", "mcq"), ("rhythm", "close"),
                ("morphology", "close"), ("report", "open")]:
        assert len(templates[key]) >= 3, (key, templates[key])


def test_same_seed_same_item(source_ecgs):
    _, ref, ecg = source_ecgs[0]
    facts = record_facts(ref, ecg, "synthetic")
    for fn in TASKS.values():
        a, b = fn(facts, random.Random(7)), fn(facts, random.Random(7))
        assert (a and a.turns) == (b and b.turns)


def test_facts_per_source(source_ecgs):
    by_ref = {ref: (source, ecg) for source, ref, ecg in source_ecgs}
    f = record_facts("ptbxl/rec000", by_ref["ptbxl/rec000"][1])
    assert f.source == "ptbxl" and f.superclasses == ["NORM"] and f.patient == "1"
    f = record_facts("ptbxl/rec001", by_ref["ptbxl/rec001"][1])
    assert f.superclasses == ["MI"] and {"AFIB", "PVC"} <= set(f.label_codes())
    assert {x.code for x in f.family_labels("rhythm")} == {"AFIB", "PVC"}
    assert "ASMI" not in {x.code for x in negatives(f, "morphology")}  # sibling MI localisation is not a negative
    f = record_facts("cpsc/rec006", by_ref["cpsc/rec006"][1])
    assert f.source == "cpsc" and f.label_codes() == ["PVC", "STD"]
    f = record_facts("g12/rec007", by_ref["g12/rec007"][1])
    assert f.source == "g12" and f.label_codes() == ["AF", "IAVB"] and len(f.space.labels) > 100
    f = record_facts("mimic/rec009", by_ref["mimic/rec009"][1])
    assert {"AF", "LBBB"} <= set(f.label_codes()) and f.measurement_origin == "machine"
    assert f.measurements["qrs"] == 152 and "pr" not in f.measurements


def test_signal_estimate_matches_synthetic_truth(synthetic_pool):
    from llava_ecg.instruct.measure import estimate_features

    for ecg in synthetic_pool:
        est = estimate_features(ecg)
        assert abs(est["hr"] - ecg.meta["hr"]) <= max(3, 0.12 * ecg.meta["hr"]), ecg.meta["rhythm"]
        assert abs(((est["axis"] - ecg.meta["axis"]) + 180) % 360 - 180) <= 25, ecg.meta["rhythm"]
        if ecg.meta["rhythm"] in ("afib", "pvc"):
            assert est["rr_cv"] > 0.12
        if ecg.meta["rhythm"] in ("sinus", "sinus_brady", "sinus_tachy", "avb1"):
            assert est["rr_cv"] < 0.12


@pytest.mark.parametrize("text,codes", [
    ("Sinus rhythm\nIncomplete right bundle branch block\nLeft axis deviation", ["SR", "IRBBB", "LAD"]),
    ("Sinus bradycardia. Right bundle branch block. Abnormal ECG", ["SB", "RBBB"]),
    ("Atrial fibrillation with rapid ventricular response; Inferior infarct, age undetermined", ["AF", "IMI"]),
])
def test_machine_statements_to_codes(text, codes):
    assert generic_codes_from_text(text) == codes


def test_ptbxl_table_and_superclasses():
    assert len(PTBXL_SPACE.labels) == 71
    assert PTBXL_SPACE.get("LAO/LAE").group == "HYP"
    assert ptbxl_superclasses({"NORM": 100.0, "SR": 0.0, "IMI": 15.0, "CLBBB": 0.0}) == ["NORM", "MI", "CD"]
    assert ptbxl_superclasses({"SR": 0.0}) == []
