"""Clean labels: over every label space, every cell and many seeds, no negative question and no distractor is
a present label, a synonym, a parent or child, or an overlapping sibling of one; options never contradict each
other; answers use clinical display names, never lower-cased codes."""
from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llava_ecg.catalog import labels as L
from llava_ecg.catalog.clinical import blocked, display_name, related
from llava_ecg.catalog.labels import challenge_space
from llava_ecg.instruct.facts import RecordFacts
from llava_ecg.instruct.engine import cells, run_task

SPACES = {"ptbxl": L.PTBXL_SPACE, "code15": L.CODE15_SPACE, "cpsc": L.CPSC_SPACE, "mimic": L.GENERIC_SPACE,
          "g12": challenge_space("g12"), "csn": challenge_space("csn")}
# lower-cased or title-cased acronyms that mark a code-derived name ("s t changes", "Av block", "qrs")
BAD_CASE = re.compile(r"\b(s t|av|qrs|qt|pr|ecg|st-t)\b|\b(Av|Qrs|Qt|Ecg)\b")


def _facts(source: str, codes: list[str]) -> RecordFacts:
    space = SPACES[source]
    facts = RecordFacts(record=f"{source}/r", source=source, space=space, labels=[space.by_code[c] for c in codes],
                        measurements={"hr": 72.0, "qrs": 96.0, "axis": 30.0, "pr": 160.0, "rr_cv": 0.03},
                        labels_complete=source != "code15")
    if source == "ptbxl":
        facts.superclasses = L.ptbxl_superclasses(codes)
    if source == "code15":
        facts.superclasses = ["ABNORMAL"] if codes else ["NORM"]
    return facts


def _check(item, facts) -> None:
    space = facts.space.name
    present = set(facts.label_codes())
    block = blocked(space, present)
    truth = item.truth
    if item.format == "close" and "yes" in truth and item.family in ("rhythm", "morphology"):
        code = item.asked[0]
        if truth["yes"]:
            assert code in present
        else:
            assert code not in block, f"'no' asked about {code}, which the record has under another name"
    if item.format == "mcq" and item.family in ("rhythm", "morphology"):
        distractors = [c for c in truth["options"] if c and c != truth["code"]]
        for d in distractors:
            assert d not in block, f"distractor {d} is present/equivalent/implied for {sorted(present)}"
        chosen = [c for c in truth["options"] if c]
        for i, a in enumerate(chosen):
            for b in chosen[i + 1:]:
                assert not related(space, a, b), f"options {a} and {b} are related"
    for human, gpt in item.turns:
        text = gpt if item.format != "mcq" else f"{human}\n{gpt}"
        if "(" in text and item.format == "close":  # ABBR(name) option lists quote the benchmark's own wording
            text = gpt
        assert not BAD_CASE.search(text), f"badly cased clinical term in {text!r}"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(source=st.sampled_from(sorted(SPACES)), data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_no_violation_over_spaces_cells_and_seeds(source, data, seed):
    codes = [label.code for label in SPACES[source].labels]
    present = data.draw(st.lists(st.sampled_from(codes), min_size=0, max_size=4, unique=True))
    facts = _facts(source, present)
    rng = random.Random(seed)
    for key in sorted(cells()):
        for _ in range(3):
            item = run_task(key, facts, rng)
            if item is not None:
                _check(item, facts)


def test_georgia_left_atrial_synonyms_are_never_distractors():
    facts = _facts("g12", ["LAA"])
    offered = set()
    for seed in range(300):
        item = run_task(("morphology", "mcq"), facts, random.Random(seed))
        if item is not None:
            offered |= set(item.truth["options"])
        item = run_task(("morphology", "close"), facts, random.Random(seed))
        if item is not None and item.truth.get("yes") is False:
            offered.add(item.asked[0])
    assert offered and not offered & {"LAE", "LAH", "AH", "PWC"}


def test_relations_and_display_names():
    assert {"LAE", "LAH"} <= blocked("g12", ["LAA"])
    assert "Brady" in blocked("g12", ["SB"]) and "NSR" in blocked("g12", ["SB"])
    assert "IMI" in blocked("g12", ["MI"]) or "AnMI" in blocked("g12", ["MI"])  # children of a present code
    assert "RBBB" in blocked("g12", ["CRBBB"]) and "BBB" in blocked("g12", ["CRBBB"])
    assert "PRC(S)" in blocked("ptbxl", ["PVC"]) and "LPR" in blocked("ptbxl", ["1AVB"])
    assert "LBBB" not in blocked("g12", ["NSR"])
    assert display_name("g12", "STC", "s t changes") == "ST changes"
    assert display_name("g12", "AVB", "av block") == "AV block"
    assert display_name("g12", "LVHV", "left ventricular high voltage") == "left ventricular high voltage"
    assert display_name("g12", "TAb", "t wave abnormal") == "T-wave abnormality"
    for space in ("g12", "ptbxl", "mimic"):
        for label in SPACES[space].labels:
            assert not BAD_CASE.search(display_name(facts_space(space), label.code, label.name)), label


def facts_space(source: str) -> str:
    return SPACES[source].name


def test_free_text_records_claim_no_abnormality_only_when_fully_parsed():
    from llava_ecg.instruct.facts import record_facts
    from llava_ecg.signals.synthetic import synthesize

    ecg = synthesize("sinus", seed=0)
    for report, complete in (("Sinus bradycardia. Borderline ECG.", True), ("Sinus rhythm\nInferior Q waves", False),
                             ("Sinus rhythm. Abnormal ECG.", False)):
        ecg.meta = {"source": "mimic", "report": report}
        facts = record_facts("mimic/r", ecg, "mimic")
        assert facts.labels_complete is complete
        assert not facts.family_labels("morphology")
        answers = [run_task(("morphology", "open"), facts, random.Random(s)) for s in range(5)]
        assert all((a is not None and "no morphological abnormality" in a.turns[0][1]) == complete for a in answers)
        assert complete or all(a is None for a in answers)
