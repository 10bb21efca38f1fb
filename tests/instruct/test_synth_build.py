"""LLM synthesis inside ``build instruct`` against the project's local OpenAI-compatible server
(tests/support/openai_stub.py) with a deterministic stand-in model (tests/support/fake_llm.py): every framing and
output format, planted faults caught by grounding, injected HTTP faults, the judge's rejects in the review file and
their re-admission, a cached rerun with zero requests, shards, and the independence rule. No real sleeps: backoff is
injected; the one timeout costs 0.3 s."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from llava_ecg.cli import main
from llava_ecg.instruct import io as rio
from llava_ecg.instruct.build import BuildConfig, build_instruct
from llava_ecg.instruct.synth import FRAMINGS, OUTPUT_FORMATS, SynthConfig, Synthesizer, SynthIncomplete
from llava_ecg.instruct.synth.grounding import format_problem
from llava_ecg.instruct.engine import is_probably_english
from llava_ecg.llm.client import ChatClient, LLMConfig
from tests.instruct.conftest import SOURCE_METAS, _with_meta
from tests.support.fake_llm import responder
from tests.support.openai_stub import OpenAIStub, Reply

GERMAN_OK = "sinusrhythmus lagetyp normal inferiorer infarkt"  # the stand-in model can translate this
GERMAN_HARD = "sinusrhythmus überleitungsstörung fraglich"  # ... and not this
LONG_REPORT = ("Sinus rhythm. Left ventricular hypertrophy. Otherwise the recording shows regular conduction with "
               "unremarkable intervals and no acute repolarisation changes in the precordial leads.")


@pytest.fixture(autouse=True)
def no_chart(monkeypatch):
    """The summary bar chart (matplotlib, ~1-4 s a build here) is tested with the build itself, not here."""
    monkeypatch.setattr("llava_ecg.instruct.manifest.bar_chart", lambda counts, path: open(path, "wb").close())


@pytest.fixture(scope="module")
def records(synthetic_pool):
    """Records of several sources: English, translatable and untranslatable German reports, no report."""
    metas = [
        dict(source="ptbxl", scp_codes={"NORM": 100.0, "SR": 0.0}, report="sinus rhythm. normal ecg.", patient_id=1.0),
        dict(source="ptbxl", scp_codes={"IMI": 50.0, "SR": 0.0}, report=GERMAN_OK, patient_id=2.0),
        dict(source="ptbxl", scp_codes={"SR": 0.0, "LVH": 100.0}, report=GERMAN_HARD, patient_id=3.0),
        dict(source="ptbxl", scp_codes={"SR": 0.0, "LVH": 100.0}, report=LONG_REPORT, patient_id=4.0),
        SOURCE_METAS["mimic"][0], SOURCE_METAS["cpsc"][0], SOURCE_METAS["code15"][0],
    ]
    out = [(f"src/rec{k:03d}", _with_meta(synthetic_pool[k % len(synthetic_pool)], **meta))
           for k, meta in enumerate(metas)]
    return out + [(f"syn/{i:03d}", synthetic_pool[i]) for i in range(3)]


def _client(stub, cache, model, **kw):
    config = LLMConfig(base_url=stub.url, model=model, cache_dir=str(cache), timeout_s=kw.pop("timeout_s", 5.0),
                       backoff_s=0.001, max_retries=kw.pop("max_retries", 4), concurrency=4, **kw)
    return ChatClient(config, sleep=lambda s: None)


def _synth(stub, cache, **config):
    return Synthesizer(_client(stub, cache, "gen-70b"), _client(stub, cache, "judge-8b"), SynthConfig(**config))


def _build(records, out, synth, **cfg):
    return build_instruct(records, out, BuildConfig(**{"progress": False, "chunk_size": 4, **cfg}), synth=synth)


def _rows(result):
    return list(rio.iter_jsonl(result.files["jsonl"])), list(rio.iter_jsonl(result.files["manifest"]))


def _synth_rows(result):
    rows, manifest = _rows(result)
    return [(r, m) for r, m in zip(rows, manifest) if "synth" in m]


def test_every_framing_and_format_grounded_and_recorded(tmp_path, records):
    with OpenAIStub(responder=responder()) as stub:
        res = _build(records, tmp_path / "o", _synth(stub, tmp_path / "cache", tasks_per_record=8))
        url = stub.url
    plain = _build(records, tmp_path / "plain", None)
    items = _synth_rows(res)
    stats = json.loads(res.files["llm_summary_json"].read_text())["synth"]
    assert stats["templated_rows"] == plain.rows and res.rows == plain.rows + len(items)
    tasks = [(r, m) for r, m in items if m["synth"]["kind"] == "task"]
    assert {m["synth"]["framing"] for _r, m in tasks} == set(FRAMINGS)
    assert {m["synth"]["output_format"] for _r, m in tasks} == set(OUTPUT_FORMATS)
    for row, m in items:
        s = m["synth"]
        assert s["model"] == "gen-70b" and s["endpoint"] == url and isinstance(s["seed"], int)
        assert m["template"] == f"{s['prompt']}@v{s['version']}" and s["grounding"] == []
        assert s["judge"]["model"] == "judge-8b" and s["judge"]["score"] >= 3 and s["judge"]["independent"]
        assert row["conversations"][0]["value"].startswith("<image>\n") and row["render"]["record"] == m["record"]
        assert all(is_probably_english(c["value"]) for c in row["conversations"])
        if s["kind"] == "task":
            assert format_problem(s["output_format"], row["conversations"][1]["value"], delimiter=s["delimiter"]) \
                is None
        if s["kind"] == "dialogue":
            assert 2 <= len(row["conversations"]) // 2 <= 4 and row["metadata"]["type"] == "multi-turn"
    # the JSON format's answers are plain JSON (fences and prose around them removed)
    assert all(json.loads(r["conversations"][1]["value"]) for r, m in tasks if m["synth"]["output_format"] == "json")
    # Fig A7: English and translated reports become >= 4 sentences; the untranslatable German one is dropped
    reports = {m["record"]: r["conversations"][1]["value"] for r, m in items if m["synth"]["kind"] == "report"}
    assert "src/rec001" in reports and "src/rec002" not in reports and "src/rec003" in reports
    assert stats["rejected"]["translation_failed"] == 1
    review = [json.loads(line) for line in res.files["review"].read_text().splitlines()]
    assert any(e["id"].startswith("ptb-xl-rec002") and "translation_failed" in e["reasons"] for e in review)
    # the summary reports the mix and the requests
    md = res.files["llm_summary_md"].read_text()
    assert "framing x output format" in md and "| er_scenario |" in md and "judge" in md
    assert stats["requests"]["generator"]["answered"] == sum(stats["planned"].values())
    assert stats["requests"]["generator"]["prompt_tokens"] > 0 and stats["requests"]["judge"]["completion_tokens"] > 0


def test_grounding_and_judge_rejects_go_to_review_and_can_be_readmitted(tmp_path, records):
    faults = {"invent": 0.15, "wrong_hr": 0.15, "malformed": 0.1, "refusal": 0.1, "quote": 0.3}
    with OpenAIStub(responder=responder(faults=faults, judge_low=0.3)) as stub:
        res = _build(records, tmp_path / "o", _synth(stub, tmp_path / "cache", tasks_per_record=4))
    stats = json.loads(res.files["llm_summary_json"].read_text())["synth"]
    review = [json.loads(line) for line in res.files["review"].read_text().splitlines()]
    counted = Counter(reason for e in review for reason in e["reasons"])
    assert counted == Counter(stats["rejected"])  # every rejection is in the review file, none silently dropped
    for reason in ("invented_label", "measurement_off", "malformed", "refusal", "quotes_report", "judge_score"):
        assert counted[reason] >= 1, reason
    assert sum(stats["kept"].values()) + len(review) == sum(stats["planned"].values())
    kept_text = "\n".join(c["value"] for r, _m in _synth_rows(res) for c in r["conversations"])
    assert "There is also" not in kept_text and "The heart rate is" not in kept_text  # planted faults never kept
    judged = [e for e in review if e["stage"] == "judge"]
    assert judged and all(e["score"] < 3 and e["judge_model"] == "judge-8b" and e["reason"] and e["row"]
                          for e in judged)
    parsed = [e for e in review if e["stage"] == "parse"]
    assert parsed and all(e["row"] is None and e["raw"] for e in parsed)
    # re-admission: by id, and from an edited review file
    first, second = judged[0]["id"], judged[-1]["id"]
    assert main(["readmit", str(tmp_path / "o"), "--ids", first, "--reviewer", "dr-x"]) == 0
    edited = tmp_path / "reviewed.jsonl"
    rio.write_jsonl(edited, [{**e, "decision": "admit" if e["id"] == second else "reject"} for e in review])
    assert main(["readmit", str(tmp_path / "o"), "--from", str(edited)]) == 0
    rows, manifest = _rows(res)
    back = {m["id"]: m for m in manifest if m.get("synth", {}).get("readmitted")}
    assert set(back) == {first, second} and back[first]["synth"]["readmitted"]["reviewer"] == "dr-x"
    assert {first, second} <= {r["id"] for r in rows}
    assert len(json.loads((tmp_path / "o" / "ecginstruct.json").read_text())) == len(rows)
    assert json.loads(res.files["llm_summary_json"].read_text())["synth"]["readmitted"] == 2
    assert main(["readmit", str(tmp_path / "o"), "--ids", parsed[0]["id"]]) != 0  # nothing to re-admit
    assert main(["readmit", str(tmp_path / "o"), "--ids", "no-such-id"]) != 0


def test_http_faults_are_retried_and_a_cached_rerun_sends_nothing(tmp_path, records):
    few = records[:4]
    with OpenAIStub(responder=responder()) as clean_stub:
        clean = _build(few, tmp_path / "clean", _synth(clean_stub, tmp_path / "cache0"))
    with OpenAIStub(responder=responder()) as stub:
        stub.push(Reply(status=429, headers={"Retry-After": "0"}), Reply(body="not json {"),
                  Reply(content="late", delay_s=0.6), Reply(status=503), Reply(json_body={"choices": []}))
        synth = Synthesizer(_client(stub, tmp_path / "cache", "gen-70b", timeout_s=0.3, max_retries=6),
                            _client(stub, tmp_path / "cache", "judge-8b", timeout_s=0.3, max_retries=6), SynthConfig())
        res = _build(few, tmp_path / "o", synth)
        n = len(stub.requests)
        distinct = {json.dumps(r.json, sort_keys=True) for r in stub.requests}
        assert n == len(distinct) + 5  # each injected fault cost exactly one retry
        assert res.files["jsonl"].read_bytes() == clean.files["jsonl"].read_bytes()
        again = _build(few, tmp_path / "again", _synth(stub, tmp_path / "cache"))
        assert len(stub.requests) == n  # everything came from the cache
        assert again.files["jsonl"].read_bytes() == res.files["jsonl"].read_bytes()
        cached = json.loads(again.files["llm_summary_json"].read_text())["synth"]["requests"]
        assert cached["generator"]["http_requests"] == 0 and cached["generator"]["cached"] > 0
        assert cached["generator"]["cached_prompt_tokens"] > 0 and cached["generator"]["prompt_tokens"] == 0


def test_shards_union_to_the_full_build(tmp_path, records):
    with OpenAIStub(responder=responder()) as stub:
        full = _build(records, tmp_path / "full", _synth(stub, tmp_path / "cache"))
        shards = [_build(records, tmp_path / "sh", _synth(stub, tmp_path / "cache"), shard=(i, 2)) for i in range(2)]
    rows = sorted(json.dumps(r, sort_keys=True) for r in _rows(full)[0])
    union = sorted(json.dumps(r, sort_keys=True) for s in shards for r in _rows(s)[0])
    assert rows == union


def test_failures_stop_the_chunk_or_are_reviewed(tmp_path, records):
    few = records[:2]
    down = {"on": True}

    def flaky(request):
        if down["on"] and request.prompt.startswith("Write a conversation"):
            return Reply(status=503)
        if request.prompt.startswith("Revise this ECG report"):
            return Reply(status=400, json_body={"error": {"message": "context too long"}})
        return responder()(request)

    with OpenAIStub(responder=flaky) as stub:
        with pytest.raises(SynthIncomplete, match="rerun the same command"):
            _build(few, tmp_path / "o", _synth(stub, tmp_path / "cache", tasks_per_record=2), chunk_size=10)
        assert not list((tmp_path / "o" / "parts").rglob("rows-*.jsonl"))  # the chunk is not marked finished
        answered = {json.dumps(r.json, sort_keys=True) for r in stub.requests if not r.prompt.startswith(
            ("Write a conversation", "Revise"))}
        before = len(stub.requests)
        down["on"] = False
        res = _build(few, tmp_path / "o", _synth(stub, tmp_path / "cache", tasks_per_record=2), chunk_size=10)
        resent = [r for r in stub.requests[before:] if json.dumps(r.json, sort_keys=True) in answered]
        assert resent == []  # answered requests were not sent again
    review = [json.loads(line) for line in res.files["review"].read_text().splitlines()]
    failed = [e for e in review if e["reasons"] == ["request_failed"]]
    assert failed and all("HTTP 400" in e["error"] for e in failed)  # a permanent error is reviewed, not retried


def test_cli_refuses_the_generator_as_judge(tmp_path, capsys):
    with OpenAIStub(responder=responder()) as stub:
        args = ["build", "instruct", "--synthetic", "2", "--no-progress", "--synth-url", stub.url,
                "--synth-model", "meta-llama/Meta-Llama-3-70B-Instruct", "--synth-tasks", "1"]
        assert main([*args, "-o", str(tmp_path / "a"), "--judge-model", "Meta-Llama-3-70B-Instruct"]) != 0
        assert "not an independent check" in capsys.readouterr().err and not stub.requests
        assert main([*args, "-o", str(tmp_path / "b")]) != 0  # a judge is required
        with pytest.warns(UserWarning, match="NOT INDEPENDENT"):
            rc = main([*args, "-o", str(tmp_path / "c"), "--judge-model", "meta-llama/Meta-Llama-3-70B-Instruct",
                       "--allow-same-judge"])
        assert rc == 0 and "NOT INDEPENDENT" in capsys.readouterr().err
        manifest = list(rio.iter_jsonl(tmp_path / "c" / "manifest.jsonl"))
        assert all(m["synth"]["judge"]["independent"] is False for m in manifest if "synth" in m)
        assert main([*args, "-o", str(tmp_path / "d"), "--judge-model", "qwen2-72b", "--synth-framings",
                     "direct=1,er_scenario=2", "--synth-formats", "json=1", "--synth-price", "0.5,1.5"]) == 0
        summary = json.loads((tmp_path / "d" / "llm_summary.json").read_text())["synth"]
        assert summary["cost_usd"] > 0
        kept = [m for m in rio.iter_jsonl(tmp_path / "d" / "manifest.jsonl") if m.get("synth", {}).get("framing")]
        assert kept and {m["synth"]["output_format"] for m in kept} == {"json"}
        assert {m["synth"]["framing"] for m in kept} <= {"direct", "er_scenario"}
        assert main([*args, "-o", str(tmp_path / "e"), "--judge-model", "x", "--synth-formats", "poem=1"]) != 0
