"""LLM rewrite + quality filter against a real local OpenAI-compatible HTTP server (tests/support/openai_stub.py):
canned replies, injected 429s, a timeout and an invalid JSON body; the cache makes a rerun free."""
from __future__ import annotations

import json
import re

import pytest

from llava_ecg.cli import main
from llava_ecg.instruct import io as rio
from llava_ecg.instruct.build import BuildConfig, build_instruct
from llava_ecg.instruct.rewrite import LLMRefiner, parse_score
from llava_ecg.llm.client import ChatClient, LLMConfig
from tests.instruct.conftest import synthetic_records
from tests.support.openai_stub import OpenAIStub, Reply


def responder(request):
    prompt = request.prompt
    if prompt.startswith("You rewrite one question-answer pair"):
        question = re.search(r"\nQuestion: (.*?)\nAnswer: ", prompt, re.S).group(1)
        return json.dumps({"question": f"Rephrased: {question}", "answer": "A rewritten answer."})
    if prompt.startswith("Revise the following ECG report"):
        return "Expanded report. It has four sentences. Nothing was added. The end."
    if prompt.startswith("You are checking the quality"):
        return "Explanation: fine.\nScore: 1" if "heart rate" in prompt else "Explanation: good.\nScore: 4"
    return "?"


def _client(stub, cache, **kw):
    config = LLMConfig(base_url=stub.url, model="stub-llm", cache_dir=str(cache), timeout_s=3.0, backoff_s=0.001,
                       max_retries=4, concurrency=4, **kw)
    return ChatClient(config, sleep=lambda s: None)


def _build(records, out, refiner):
    return build_instruct(records, out, BuildConfig(source="synthetic", progress=False, chunk_size=5), llm=refiner)


@pytest.mark.parametrize("text,score", [("ok\nScore: 4", 4.0), ("Score: **2.5**", 2.5), ("no score", None),
                                        ("Score: 3\nwait, Score: 1", 1.0)])
def test_parse_score(text, score):
    assert parse_score(text) == score


def test_rewrite_filter_retries_and_cache(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 8)
    plain = _build(records, tmp_path / "plain", None)
    plain_rows = {r["id"]: r for r in rio.iter_jsonl(plain.files["jsonl"])}
    with OpenAIStub(responder=responder) as stub:
        stub.push(Reply(status=429, headers={"Retry-After": "0"}), Reply(body="not json {"),
                  Reply(content="late", delay_s=9.0), Reply(status=503))
        res = _build(records, tmp_path / "llm", LLMRefiner(_client(stub, tmp_path / "cache")))
        n_requests = len(stub.requests)
        distinct = {json.dumps(r.json, sort_keys=True) for r in stub.requests}
        assert n_requests == len(distinct) + 4  # each injected failure was retried once
        rows = list(rio.iter_jsonl(res.files["jsonl"]))
        manifest = list(rio.iter_jsonl(res.files["manifest"]))
        assert 0 < len(rows) < plain.rows
        for row, m in zip(rows, manifest):
            old = plain_rows[row["id"]]
            assert m["llm"]["score"] == 4.0 and "heart rate" not in _qa(row)  # scored after the rewrite
            human, gpt = row["conversations"][0]["value"], row["conversations"][1]["value"]
            if m["format"] == "multi":
                assert row == old and "rewritten" not in m["llm"]
            elif m["family"] == "report":
                assert gpt == "Expanded report. It has four sentences. Nothing was added. The end."
            else:
                assert human.startswith("<image>\nRephrased: ")
                if m["format"] == "open":
                    assert gpt == "A rewritten answer."
                else:  # close / fill / mcq answers never change
                    assert gpt == old["conversations"][1]["value"]
                if m["format"] == "mcq":
                    assert human.split("\nA. ", 1)[1] == old["conversations"][0]["value"].split("\nA. ", 1)[1]
        kept_ids = {r["id"] for r in rows}
        dropped = set(plain_rows) - kept_ids
        assert dropped and all("heart rate" in _qa(plain_rows[i]) for i in dropped)
        # every pair was scored despite the injected 429 / invalid JSON / timeout / 503
        assert all(m["llm"]["score"] is not None for m in manifest)
        # a rerun with the same cache costs nothing and gives the same bytes
        again = _build(records, tmp_path / "llm2", LLMRefiner(_client(stub, tmp_path / "cache")))
        assert len(stub.requests) == n_requests
        assert again.files["jsonl"].read_bytes() == res.files["jsonl"].read_bytes()
        raw = list((tmp_path / "cache").rglob("*.json"))
        assert raw and "response" in json.loads(raw[0].read_text())  # raw responses are kept


def _qa(row):
    return " ".join(t["value"] for t in row["conversations"][:2])


def test_failures_are_explicit(tmp_path, synthetic_pool):
    records = synthetic_records(synthetic_pool, 2)

    def broken(request):
        if request.prompt.startswith("You rewrite"):
            return Reply(status=400, json_body={"error": {"message": "bad request"}})
        if request.prompt.startswith("Revise"):
            return Reply(status=400)
        return "I cannot rate this."

    with OpenAIStub(responder=broken) as stub:
        keep = _build(records, tmp_path / "keep", LLMRefiner(_client(stub, tmp_path / "c1")))
        plain = _build(records, tmp_path / "plain", None)
        assert keep.files["jsonl"].read_bytes() == plain.files["jsonl"].read_bytes()  # nothing silently changed
        for m in rio.iter_jsonl(keep.files["manifest"]):
            assert m["llm"]["score"] is None and "no 'Score: x'" in m["llm"]["score_error"]
            if m["format"] != "multi":
                assert "HTTP 400" in m["llm"]["rewrite_error"]
        drop = _build(records, tmp_path / "drop",
                      LLMRefiner(_client(stub, tmp_path / "c2"), on_score_error="drop"))
        assert drop.rows == 0


def test_cli_llm_flags(tmp_path):
    with OpenAIStub(responder=responder) as stub:
        rc = main(["build", "instruct", "--synthetic", "3", "-o", str(tmp_path / "o"), "--llm-url", stub.url,
                   "--llm-model", "stub-llm", "--llm-threshold", "3", "--no-progress"])
        assert rc == 0 and stub.requests
        assert all(r.json["model"] == "stub-llm" for r in stub.requests)
        assert (tmp_path / "o" / "llm_cache").is_dir()
    assert main(["build", "instruct", "--synthetic", "3", "-o", str(tmp_path / "x"), "--llm-url", "http://x/v1",
                 "--no-progress"]) == 2


def test_failed_translation_drops_the_german_report(tmp_path, source_ecgs):
    """A German PTB-XL report whose translation fails (or comes back German) is dropped and counted, never kept."""
    ptbxl = [(ref, ecg) for src, ref, ecg in source_ecgs if ref.startswith("ptbxl/")]
    german = [ref for ref, ecg in ptbxl if "rhythmus" in (ecg.meta.get("report") or "")]
    assert german

    def answer(request):
        if request.prompt.startswith("Revise the following ECG report"):
            return Reply(status=400) if "sinusrhythmus" in request.prompt.lower() else "Sinus rhythm. Normal ECG. A. B."
        return responder(request)

    cfg = BuildConfig(progress=False, translate_reports=True, mix={"report.open": 1}, samples_per_record=1)
    with OpenAIStub(responder=answer) as stub:
        res = build_instruct(ptbxl, tmp_path / "o", cfg, llm=LLMRefiner(_client(stub, tmp_path / "c"), score=False))
    rows = list(rio.iter_jsonl(res.files["jsonl"]))
    manifest = list(rio.iter_jsonl(res.files["manifest"]))
    assert rows and not any(m["record"] in german for m in manifest)
    assert all("rhythmus" not in r["conversations"][1]["value"] for r in rows)
    stats = json.loads((tmp_path / "o" / "llm_summary.json").read_text())
    assert stats["rewrite"]["dropped_untranslated"] == len(german)
