"""Judge request layout: a given instruction + item yields exactly the expected request text (the authors' layout
by default, any other from a YAML template), and a user's instruction file is used byte for byte."""
from __future__ import annotations

import pytest

from llava_ecg.eval.judge.layout import PULSE_LAYOUT, layout_for, load_layout
from llava_ecg.eval.judge.prompts import JudgePrompt, arena_messages, prompt_for, read_instruction, report_messages

# A stand-in instruction (the authors' text is the user's to supply); leading/trailing spaces and an inner blank
# line must survive untouched.
INSTRUCTION = "  Grade the answer.\n\nReturn JSON.  "


def test_report_request_is_the_authors_layout_byte_for_byte():
    prompt = JudgePrompt("t", "report", INSTRUCTION, ("diagnosis",))
    (message,) = report_messages(prompt, "Sinus rhythm, LVH.", "Normal ECG.")
    assert message == {"role": "user", "content": (
        "  Grade the answer.\n\nReturn JSON.   \n [The Start of Ground Truth Report]\n Sinus rhythm, LVH.\n"
        " [The End of Ground Truth Report]\n [The Start of Generated Report]\n Normal ECG.\n"
        " [The End of Generated Report]")}


def test_arena_request_has_both_ground_truth_turns_then_both_model_turns():
    prompt = JudgePrompt("t", "arena", INSTRUCTION, ("accuracy",))
    turns = [("What are the key features?", "Flutter waves at 300/min."), ("Final diagnosis?", "Atrial flutter.")]
    (message,) = arena_messages(prompt, turns, ["Regular rhythm.", "Sinus tachycardia."])
    assert message["content"] == (
        "  Grade the answer.\n\nReturn JSON.   \n [The Start of Ground Truth Answer]\n "
        "**Question:**\nWhat are the key features?\n\n**Ground Truth Answer:** Flutter waves at 300/min.\n\n"
        "**Question:**\nFinal diagnosis?\n\n**Ground Truth Answer:** Atrial flutter."
        "\n [The End of Ground Truth Answer]\n\n [The Start of Model's Response]\n "
        "**Question:**\nWhat are the key features?\n\n**Model's Response:** Regular rhythm.\n\n"
        "**Question:**\nFinal diagnosis?\n\n**Model's Response:** Sinus tachycardia."
        "\n [The End of Model's Response]")


def test_instruction_file_is_read_exactly_but_for_the_final_newline(tmp_path, monkeypatch):
    path = tmp_path / "report_prompt.txt"
    path.write_bytes(INSTRUCTION.encode() + b"\n")
    assert read_instruction(path) == INSTRUCTION
    assert prompt_for("report", instruction_file=path).instruction == INSTRUCTION
    monkeypatch.setenv("LLAVA_ECG_JUDGE_PROMPT_ARENA", str(path))  # the lmms-eval aggregation path reads this
    assert prompt_for("arena").instruction == INSTRUCTION and prompt_for("report").name == "report-pulse"
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_instruction(tmp_path / "empty.txt")


def test_layout_from_a_yaml_template(tmp_path, monkeypatch):
    path = tmp_path / "plain.yaml"
    path.write_text(
        'report: "{instruction}\\n\\nREFERENCE:\\n{reference}\\n\\nANSWER:\\n{response}"\n'
        'arena: "{instruction}\\n<ref>{reference}</ref>\\n<ans>{response}</ans>"\n'
        'arena_reference_turn: "Q: {question} A: {answer}"\n'
        'arena_response_turn: "Q: {question} M: {answer}"\n'
        'turn_separator: " | "\n')
    layout = load_layout(path)
    assert layout.report_text("I", "R {x}", "G") == "I\n\nREFERENCE:\nR {x}\n\nANSWER:\nG"
    assert layout.arena_text("I", [("q1", "a1"), ("q2", "a2")], ["m1", "m2"]) == (
        "I\n<ref>Q: q1 A: a1 | Q: q2 A: a2</ref>\n<ans>Q: q1 M: m1 | Q: q2 M: m2</ans>")
    monkeypatch.setenv("LLAVA_ECG_JUDGE_LAYOUT", str(path))
    assert layout_for().name == "plain"
    monkeypatch.delenv("LLAVA_ECG_JUDGE_LAYOUT")
    assert layout_for() is PULSE_LAYOUT
    bad = tmp_path / "bad.yaml"
    bad.write_text('report: "{instruction} {ground_truth}"\narena: "x"\narena_reference_turn: "x"\n'
                   'arena_response_turn: "x"\n')
    with pytest.raises(ValueError, match="unknown placeholder"):
        load_layout(bad)
