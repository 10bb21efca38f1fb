"""Report and arena judging over real HTTP against the local OpenAI-compatible stub."""
import json

import pytest

from llava_ecg.eval import JudgeNotConfigured, score
from llava_ecg.eval.judge import Judge, parse_judgement
from llava_ecg.llm import ChatClient, LLMConfig
from tests.eval.rows import arena_row, report_row
from tests.support.openai_stub import OpenAIStub, Reply


def _judge(stub, tmp_path, **kw):
    config = LLMConfig(base_url=stub.url, model="gpt-4o-judge", json_mode=True, backoff_s=0.001,
                       backoff_max_s=0.01, timeout_s=kw.pop("timeout_s", 5.0), max_retries=kw.pop("max_retries", 3),
                       cache_dir=str(tmp_path / "cache"))
    return Judge(ChatClient(config), progress=False, **kw)


def _report_json(d, w, r, wave_key="Waveform"):
    return json.dumps({"Diagnosis": {"Score": d, "Explanation": "e"}, wave_key: {"Score": w, "Explanation": "e"},
                       "Rhythm": {"Score": r, "Explanation": "e"}})


# ids differ only before the last '-': the authors' script collapses them all onto "0"
ROWS = [report_row(f"ptb-report-0000{i}_hr-0", f"GT report {i}: sinus rhythm.") for i in range(5)]
PREDS = [f"model report {i}" for i in range(5)]


def test_report_judging_aggregation_failures_and_cache(tmp_path):
    with OpenAIStub() as stub:
        stub.on("GT report 0", _report_json(8, 6, 10))
        stub.on("GT report 1", Reply(status=429, headers={"Retry-After": "0"}), _report_json(4, 5, 6, wave_key="Form"))
        stub.on("GT report 2", "```json\n" + _report_json(10, 10, 10) + "\n``` hope this helps")
        stub.on("GT report 3", "I refuse to produce JSON")  # -> failure, not 0
        stub.on("GT report 4", Reply(content=_report_json(0, 0, 0), delay_s=6.0))  # always times out
        s = score("ptb-test-report", PREDS, ROWS, judge=_judge(stub, tmp_path, timeout_s=2.0, max_retries=1),
                  bootstrap=0)
        assert s["n"] == 5 and s["judged"] == 3 and s["failed"] == 2
        # item scores: mean(8,6,10)*10 = 80, mean(4,5,6)*10 = 50, 100
        assert s["score"] == pytest.approx((80 + 50 + 100) / 3)
        assert s["diagnosis"] == pytest.approx(10 * (8 + 4 + 10) / 3)
        assert s["waveform"] == pytest.approx(10 * (6 + 5 + 10) / 3)
        assert s["judge_model"] == "gpt-4o-judge"
        by_id = {j.id: j for j in s.records}
        assert set(by_id) == {r["id"] for r in ROWS}
        assert "no JSON object" in by_id["ptb-report-00003_hr-0"].error
        assert "timeout" in by_id["ptb-report-00004_hr-0"].error
        assert by_id["ptb-report-00001_hr-0"].attempts == 2
        prompt = stub.requests_for("GT report 0")[0]
        assert ("[The Start of Ground Truth Report]\n GT report 0: sinus rhythm.\n [The End of Ground Truth Report]\n"
                " [The Start of Generated Report]\n model report 0\n [The End of Generated Report]") in prompt.prompt
        assert prompt.json["temperature"] == 0 and prompt.json["response_format"] == {"type": "json_object"}

        # rerun: the three good items come from the cache; only the failures are asked again
        before = len(stub.requests)
        stub.reset_script()
        stub.on("GT report 3", _report_json(5, 5, 5))
        stub.on("GT report 4", Reply(content=_report_json(0, 0, 0), delay_s=6.0))
        stub.default = "must not be asked: cached"
        again = score("ptb-test-report", PREDS, ROWS, judge=_judge(stub, tmp_path, timeout_s=2.0, max_retries=0),
                      bootstrap=0)
        asked = {r.prompt.split("[The Start of Ground Truth Report]\n ")[1][:11] for r in stub.requests[before:]}
        assert asked == {"GT report 3", "GT report 4"}
        assert again["judged"] == 4 and again["failed"] == 1
        assert sum(j.cached for j in again.records) == 3


def test_arena_one_call_per_item_with_both_turns(tmp_path):
    rows = [arena_row(f"ecg-arena-{i}", [(f"Q1 of {i}?", f"gold A1 {i}"), (f"Q2 of {i}?", f"gold A2 {i}")])
            for i in (1, 2, 3)]
    preds = [["ans 1a", "ans 1b"], ["ans 2a", "ans 2b"], ["only one answer"]]
    reply = json.dumps({"accuracy": {"score": 6}, "Completeness": {"Score": "5/10"},
                        "Instruction Adherence": {"Score": 10}})
    with OpenAIStub(default=reply) as stub:
        s = score("arena", preds, rows, judge=_judge(stub, tmp_path), bootstrap=0)
        assert len(stub.requests) == 2  # item 3 fails before any request
        text = stub.requests_for("Q1 of 1?")[0].prompt
        for piece in ("Q1 of 1?", "gold A1 1", "ans 1a", "Q2 of 1?", "gold A2 1", "ans 1b"):
            assert piece in text
    assert s["judged"] == 2 and s["failed"] == 1
    assert s["score"] == pytest.approx(70.0)
    assert s["accuracy"] == pytest.approx(60.0) and s["instruction_adherence"] == pytest.approx(100.0)
    assert "1 answer(s) for 2 turns" in s.records[2].error


def test_parse_judgement_tolerance_and_errors():
    crit = ("diagnosis", "waveform", "rhythm")
    scores, _, err = parse_judgement('{diagnosis: {score: 7}, "wave form": 3, RHYTHM: {"Score": "9"}}', crit)
    assert err is None and scores == {"diagnosis": 7, "waveform": 3, "rhythm": 9}
    assert "lacks 'rhythm'" in parse_judgement('{"Diagnosis": 1, "Form": 2}', crit)[2]
    assert "0..10" in parse_judgement('{"Diagnosis": 11, "Form": 2, "Rhythm": 3}', crit)[2]


def test_missing_judge_is_a_clear_error(monkeypatch):
    for var in ("LLAVA_ECG_LLM_BASE_URL", "OPENAI_BASE_URL", "LLAVA_ECG_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(JudgeNotConfigured, match="judge"):
        score("ptb-test-report", PREDS[:1], ROWS[:1], bootstrap=0)
