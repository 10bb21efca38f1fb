"""Reading ECGBench rows in every shape they come in."""
import json

import pytest

from llava_ecg.eval import EvalInputError
from llava_ecg.eval.references import arena_turns, gold_answer, load_references, question


def test_authors_old_report_format():
    row = {"id": "ptb-report-07190_hr-0", "image": "test_images/ptb_test_v4/07190_hr-0.png",
           "conversation": [{"from": "user", "value": "Please write a clinical report based on this ECG image."},
                            {"from": "assistant", "value": "Sinus rhythm, normal axis, normal ECG."}]}
    assert question(row) == "Please write a clinical report based on this ECG image."
    assert gold_answer(row) == "Sinus rhythm, normal axis, normal ECG."


def test_image_token_is_stripped_and_arena_from_value_pairs():
    row = {"id": "x", "conversations": [{"from": "human", "value": "<image>\nQ1"}, {"from": "gpt", "value": "A1"},
                                        {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]}
    assert question(row) == "Q1"
    assert arena_turns(row) == [("Q1", "A1"), ("Q2", "A2")]


def test_load_json_jsonl_and_errors(tmp_path):
    rows = [{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "NORM"}]}]
    (tmp_path / "r.json").write_text(json.dumps({"data": rows}))
    (tmp_path / "r.jsonl").write_text(json.dumps(rows[0]) + "\n\n")
    assert load_references(tmp_path / "r.json") == rows == load_references(tmp_path / "r.jsonl")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(EvalInputError, match="bad.json: not valid JSON"):
        load_references(tmp_path / "bad.json")
    with pytest.raises(EvalInputError, match="not found"):
        load_references(tmp_path / "missing.json")
    with pytest.raises(EvalInputError, match="unsupported"):
        load_references(tmp_path / "r.csv") if (tmp_path / "r.csv").write_text("x") else None
    with pytest.raises(EvalInputError, match="no gpt"):
        gold_answer({"id": "z", "conversations": [{"from": "human", "value": "q"}]})
