"""The authors' 500-item PTB-XL report file (realdata, skipped when absent): every item judged under its own id."""
import json
from pathlib import Path

import pytest

from llava_ecg.eval import score
from llava_ecg.eval.judge import Judge
from llava_ecg.eval.references import gold_answer, load_references, question
from llava_ecg.llm import ChatClient, LLMConfig
from tests.conftest import shared_dir
from tests.support.openai_stub import OpenAIStub

SHARED = shared_dir() or Path("../shared")  # see docs/testing.md: LLAVA_ECG_SHARED
REPORTS = SHARED / "realdata" / "pulse" / "ptb_report_generation_test.json"

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not REPORTS.is_file(), reason=f"{REPORTS} not present")]


def test_authors_report_file_is_judged_item_by_item(tmp_path):
    rows = load_references(REPORTS)
    assert len(rows) == 500
    assert {question(r) for r in rows} == {"Please write a clinical report based on this ECG image."}
    golds = [gold_answer(r) for r in rows]
    assert all(isinstance(g, str) and g for g in golds)

    def responder(req):
        # the score depends on the item, so a collapsed key would be visible in the aggregate
        digit = int(req.prompt.split("[The Start of Generated Report]\n report for ptb-report-")[1][4])
        return json.dumps({"Diagnosis": {"Score": digit}, "Waveform": {"Score": digit}, "Rhythm": {"Score": digit}})

    preds = [f"report for {r['id']}" for r in rows]
    with OpenAIStub(responder=responder) as stub:
        judge = Judge(ChatClient(LLMConfig(base_url=stub.url, model="stub-judge", concurrency=16,
                                           cache_dir=str(tmp_path))), progress=False)
        s = score("ptb-test-report", preds, rows, judge=judge, bootstrap=100)
        assert len(stub.requests) == 500
    ids = [j.id for j in s.records]
    assert len(set(ids)) == 500 and ids == [r["id"] for r in rows]
    expected = sum(10 * int(r["id"].split("-")[2][4]) for r in rows) / 500
    assert s["judged"] == 500 and s["failed"] == 0 and s["score"] == pytest.approx(expected)
    lo, hi = s["score_ci95"]
    assert lo < s["score"] < hi
