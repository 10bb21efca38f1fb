"""LLM synthesis without a server: parsing canned replies (every format, malformed blocks, refusals, JSON), the
grounding checks catching planted contradictions, the judge's verdict and its independence."""
from __future__ import annotations

import json

import pytest

from llava_ecg.catalog import labels as L
from llava_ecg.instruct.facts import RecordFacts
from llava_ecg.instruct.synth import JudgeNotIndependent, check_independent
from llava_ecg.instruct.synth.grounding import (
    Grounding,
    claimed_codes,
    format_problem,
    quote_overlap,
    stated_measurements,
)
from llava_ecg.instruct.synth.parse import ParseError, parse_dialogue, parse_report, parse_task, parse_verdict
from llava_ecg.instruct.synth.prompts import FRAMINGS, OUTPUT_FORMATS, PROMPTS

REPORT = ("Sinus rhythm. Inferior myocardial infarction, age undetermined. Otherwise the recording shows regular "
          "conduction with unremarkable intervals and no acute repolarisation changes in the precordial leads.")


@pytest.fixture
def grounding():
    space = L.PTBXL_SPACE
    facts = RecordFacts("ptb/00001", "ptbxl", space, labels=[space.by_code["SR"], space.by_code["IMI"]],
                        measurements={"hr": 70.0, "qrs": 100.0, "axis": 30.0}, report=REPORT)
    return Grounding(facts, REPORT)


# --- parsing ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reply,task,response", [
    ("Task: What is the rate?\nResponse: About 70 bpm.", "What is the rate?", "About 70 bpm."),
    ("**Task:** Name the rhythm.\n\n**Response:** Sinus rhythm.", "Name the rhythm.", "Sinus rhythm."),
    ("### Task 1: List findings as JSON.\n### Answer:\n```json\n{\"rhythm\": \"sinus\"}\n```",
     "List findings as JSON.", "```json\n{\"rhythm\": \"sinus\"}\n```"),
    ("Sure! Here it is.\nTask: Tabulate.\nResponse:\n| a | b |\n|---|---|\n| 1 | 2 |", "Tabulate.",
     "| a | b |\n|---|---|\n| 1 | 2 |"),
    ("Task: A 60-year-old arrives.\nQuestion: which rhythm?\nResponse: Step 1: rate.\nAnswer: sinus rhythm.",
     "A 60-year-old arrives.\nQuestion: which rhythm?", "Step 1: rate.\nAnswer: sinus rhythm."),
])
def test_parse_task(reply, task, response):
    assert parse_task(reply) == (task, response)


@pytest.mark.parametrize("reply,reason", [
    ("Here is a question about the ECG: what is the rate? It is 70.", "malformed"),
    ("Task: one\nResponse: a\nTask: two\nResponse: b", "malformed"),
    ("Response: first\nTask: then", "malformed"),
    ("Task:\nResponse: an answer without a task", "malformed"),
    ("I'm sorry, but I can't help with that request.", "refusal"),
    ("As an AI, I cannot provide medical advice.", "refusal"),
    ("   ", "empty"),
    (None, "empty"),
])
def test_parse_task_rejects(reply, reason):
    with pytest.raises(ParseError) as info:
        parse_task(reply)
    assert info.value.reason == reason


def test_parse_dialogue():
    text = "Human: Rate?\nAssistant: About 70 bpm. Regular.\nHuman: Rhythm?\nAssistant: Sinus rhythm. P before QRS."
    assert parse_dialogue(text) == [("Rate?", "About 70 bpm. Regular."), ("Rhythm?", "Sinus rhythm. P before QRS.")]
    for bad in ("Human: a\nHuman: b\nAssistant: c\nAssistant: d",  # not alternating
                "Human: only one\nAssistant: exchange",  # 1 < 2 turns
                "\n".join(f"Human: q{i}\nAssistant: a{i}" for i in range(5)),  # 5 > 4 turns
                "Just prose."):
        with pytest.raises(ParseError):
            parse_dialogue(bad)


def test_parse_report_strips_label():
    assert parse_report("Revised report: Sinus rhythm.\n  Normal axis.") == "Sinus rhythm. Normal axis."


@pytest.mark.parametrize("text,score,capped", [
    ("Relevance: 4\nReason: fine.\nScore: 4", 4.0, False),
    ("Quoting: yes\nReason: copies the report.\nScore: 5", 2.0, True),
    ("Quoting: no\nScore: **4.5** / 5", 4.5, False),
    ('{"score": 3, "reason": "ok"}', 3.0, False),
    ("I think it is good.", None, False),
    ("Score: 9", None, False),
])
def test_parse_verdict(text, score, capped):
    verdict = parse_verdict(text)
    assert verdict.score == score and verdict.capped == capped
    if "eason" in text:
        assert verdict.reason in ("fine.", "copies the report.", "ok")


# --- grounding ------------------------------------------------------------------------------------------------------
def test_claims_respect_negation_and_contrast():
    assert claimed_codes("The rhythm is atrial fibrillation.") == {"AF"}
    assert claimed_codes("There is no atrial fibrillation.") == set()
    assert claimed_codes("Unlike atrial flutter, no sawtooth waves are seen; left bundle branch block is.") == {"LBBB"}


def test_measurements_skip_reference_ranges():
    text = ("Heart rate 72 bpm; the normal rate is 60-100 bpm and a rate below 60 bpm is bradycardia. PR interval of "
            "0.16 s, QRS less than 120 ms, QTc 450 ms. The axis is -45°.")
    assert stated_measurements(text) == [("hr", 72.0), ("pr", 160.0), ("qtc", 450.0), ("axis", -45.0)]


@pytest.mark.parametrize("response,reasons", [
    ("Sinus rhythm with an inferior myocardial infarction; heart rate 72 bpm.", []),
    ("Sinus rhythm. There is no atrial fibrillation.", []),
    ("The tracing shows atrial fibrillation.", ["invented_label"]),
    ("Sinus rhythm with left ventricular hypertrophy.", ["invented_label"]),
    ("Sinus rhythm at 95 bpm.", ["measurement_off"]),
    ("The QRS axis is +75 degrees.", ["measurement_off"]),
    ("The PR interval is 160 ms.", ["invented_measurement"]),
    ("According to the report, this is sinus rhythm.", ["mentions_report"]),
    ("Sinusrhythmus, Lagetyp normal.", ["not_english"]),
    ("Otherwise the recording shows regular conduction with unremarkable intervals and no acute repolarisation "
     "changes in the precordial leads.", ["quotes_report"]),
])
def test_grounding_catches_planted_contradictions(grounding, response, reasons):
    assert grounding.check_task("What does this ECG show? Answer in prose.", response, "free_form") == reasons


def test_naming_findings_is_not_quoting(grounding):
    share, run = quote_overlap("Atrial fibrillation. Left bundle branch block. Abnormal ECG.",
                               "I see atrial fibrillation and left bundle branch block.", 5)
    assert share == 0 and run < 3
    assert not grounding.quoting("Sinus rhythm; inferior myocardial infarction.")


def test_task_wording_checked(grounding):
    assert grounding.check_task("Based on the provided report, name the rhythm.", "Sinus rhythm.", "short_answer") \
        == ["mentions_report"]


@pytest.mark.parametrize("fmt,good,bad", [
    ("json", '{"rhythm": "sinus"}', "rhythm: sinus"),
    ("table", "| a | b |\n|---|---|\n| 1 | 2 |", "a | b"),
    ("list", "- sinus rhythm\n- inferior infarction", "sinus rhythm"),
    ("step_by_step", "Step 1: rate.\nStep 2: rhythm.\nConclusion: sinus.", "It is sinus."),
    ("short_answer", "Sinus rhythm.", " ".join(["word"] * 41)),
    ("delimiter", "sinus rhythm ; inferior infarction", "sinus rhythm, inferior infarction"),
    ("free_form", "Sinus rhythm.", None),
])
def test_format_checks(fmt, good, bad):
    assert format_problem(fmt, good, delimiter=" ; ") is None
    if bad is not None:
        assert format_problem(fmt, bad, delimiter=" ; ")


def test_report_and_dialogue_checks():
    space = L.PTBXL_SPACE
    german = "sinusrhythmus lagetyp normal inferiorer infarkt"
    facts = RecordFacts("ptb/2", "ptbxl", space, labels=[space.by_code["SR"], space.by_code["IMI"]], report=german)
    g = Grounding(facts, german)
    assert g.check_report(german) == ["translation_failed", "too_short"]
    english = ("The rhythm is sinus rhythm. The axis is normal. There is an inferior myocardial infarction. "
               "No other finding is described.")
    assert g.check_report(english) == []
    assert g.check_report(english + " Atrial fibrillation is present.") == ["invented_label"]
    half = "The rhythm is sinus rhythm with P-Verbreiterung. The axis is normal. There is an inferior infarction. Done."
    assert g.check_report(half) == ["translation_failed"]  # a German word the report markers miss
    assert g.check_dialogue([("Rate?", "Regular. Sinus rhythm is seen."), ("Anything else?", "Inferior MI.")]) \
        == ["too_short"]


# --- judge ---------------------------------------------------------------------------------------------------------
def test_judge_must_be_independent():
    assert check_independent("meta-llama/Meta-Llama-3-70B-Instruct", "Qwen/Qwen2-72B-Instruct")
    for gen, judge in (("llama3", "llama3"), ("meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama-3-70b-instruct")):
        with pytest.raises(JudgeNotIndependent, match="independent"):
            check_independent(gen, judge)
    with pytest.warns(UserWarning, match="NOT INDEPENDENT"):
        assert check_independent("llama3", "llama3", allow_same=True) is False


def test_prompts_are_versioned_and_cover_the_paper_mix():
    assert set(FRAMINGS) == {"direct", "er_scenario", "comparative", "explanation", "problem_solving", "educational",
                             "role_play", "decision_making"}
    assert set(OUTPUT_FORMATS) == {"free_form", "step_by_step", "short_answer", "json", "table", "list", "delimiter"}
    assert {p.tag for p in PROMPTS.values()} == {"synth.task@v1", "synth.dialogue@v1", "synth.report@v1",
                                                 "synth.judge@v1"}
    json.dumps({p.id: p.user for p in PROMPTS.values()})  # plain text, serialisable into the cache
