"""lmms-eval's own ``openai`` chat model, unmodified, against the project's local OpenAI-compatible server.

The whole ``ecgbench`` group through the real CLI, with nothing set but the endpoint (``--model_args``) and the data
folder: every request must carry the image and the question exactly as published, the arena's second turn the
conversation so far, and the run must write results and sample logs. Option scoring is not requested from a model
without ``loglikelihood`` (NaN + one notice). A judge on the same server scores the report and arena subsets.
Runs in the training venv (``make test``) and in the eval-only venv (``scripts/ci_eval_only.sh``).
"""
from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import sys

import pytest

from llava_ecg.eval import references
from tests.eval.ecgbench_fixture import rows_by_config, write_ecgbench
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.slow

JUDGE = {"report": {"Diagnosis": {"Score": 6}, "Waveform": {"Score": 7}, "Rhythm": {"Score": 8}},
         "arena": {"Accuracy": {"Score": 5}, "Completeness": {"Score": 6}, "Instruction Adherence": {"Score": 7}}}
ARENA_Q1 = rows_by_config()["arena"][0]["conversations"][0]["question"]


def _answer(request) -> str:
    body = request.json
    if body.get("response_format"):  # the judge (JSON mode)
        kind = "report" if "Ground Truth Report" in request.prompt else "arena"
        return json.dumps(JUDGE[kind])
    text = request.prompt
    if text.startswith("Answer the following multiple choice"):
        return "Answer: C"
    if "NORM" in text:
        return "NORM"
    if text == ARENA_Q1:
        return "Regular rhythm with flutter waves."
    return "Sinus rhythm."


@pytest.fixture(scope="module")
def run(tmp_path_factory, offline_env):
    root = tmp_path_factory.mktemp("ecgbench")
    rows = write_ecgbench(root)
    out = tmp_path_factory.mktemp("out")
    env = {k: v for k, v in offline_env.items() if not k.startswith(("ECGBENCH_", "OPENAI_", "LLAVA_ECG_LLM_"))}
    with OpenAIStub(responder=_answer) as stub:
        env.update(ECGBENCH_ROOT=str(root), ECGBENCH_BOOTSTRAP="50", LLAVA_ECG_LLM_BASE_URL=stub.url,
                   LLAVA_ECG_LLM_MODEL="judge", LLAVA_ECG_LLM_CACHE=str(out / "judge_cache"))
        cmd = [sys.executable, "-m", "lmms_eval", "--model", "openai", "--model_args",
               f"model_version=gpt-4o,base_url={stub.url},api_key=sk-test,max_retries=1,num_concurrent=4",
               "--tasks", "ecgbench", "--output_path", str(out), "--log_samples"]
        proc = subprocess.run(cmd, env=env, cwd=out, capture_output=True, text=True, timeout=600)
        requests = list(stub.requests)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, requests, rows, out


def _parts(message) -> tuple[list[str], list[str]]:
    content = message["content"]
    if isinstance(content, str):
        return [content], []
    texts = [p["text"] for p in content if p.get("type") == "text"]
    images = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return texts, images


def _is_png(url: str) -> bool:
    from PIL import Image

    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).format == "PNG"


def test_every_request_carries_the_image_and_the_published_question(run):
    _, requests, rows, _ = run
    model_requests = [r for r in requests if not r.json.get("response_format")]
    questions = {}
    for config, items in rows.items():
        for row in items:
            questions.setdefault(references.question(row), []).append(config)
    assert len(model_requests) == 2 * len(rows) + 2  # two items per subset, plus the arena's second turns
    for request in model_requests:
        assert request.json["model"] == "gpt-4o" and request.json["temperature"] == 0
        first_texts, first_images = _parts(request.json["messages"][0])
        assert len(first_images) == 1 and _is_png(first_images[0])
        assert first_texts == [first_texts[0]] and first_texts[0] in questions  # verbatim, nothing added


def test_arena_second_turn_has_the_conversation_so_far(run):
    _, requests, rows, _ = run
    arena = rows["arena"][0]["conversations"]
    second = [r for r in requests if not r.json.get("response_format") and len(r.json["messages"]) > 1]
    assert len(second) == 2
    for request in second:
        roles = [m["role"] for m in request.json["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert _parts(request.json["messages"][1])[0] == ["Regular rhythm with flutter waves."]
        texts, images = _parts(request.json["messages"][2])
        assert texts == [arena[1]["question"]] and images == []  # the image only in the first turn


def test_results_and_sample_logs(run):
    proc, _, _, out = run
    files = sorted(out.rglob("*_results.json"))
    assert files, proc.stderr[-3000:]
    results = json.loads(files[-1].read_text())["results"]
    for task in ("ecgbench_ptb", "ecgbench_code15", "ecgbench_cpsc"):
        assert 0 <= results[task]["f1_pulse,none"] <= 100 and 0 <= results[task]["hl,none"] <= 100
        assert math.isnan(results[task]["auc_logprob,none"])  # no loglikelihood: not requested, NaN
    assert results["ecgbench_mmmu"]["acc,none"] == 50.0  # "Answer: C" against golds C and A
    assert math.isnan(results["ecgbench_g12"]["acc_logprob,none"])
    assert results["ecgbench_ptb_report"]["score,none"] == pytest.approx(70.0)  # judged: mean(6, 7, 8) x 10
    assert results["ecgbench_arena"]["score,none"] == pytest.approx(60.0)
    assert results["ecgbench_arena"]["failed,none"] == 0
    assert {results[t]["conv_template,none"] for t in results if t != "ecgbench"} == {"n/a"}  # a chat model
    folder = files[-1].parent
    arena = [json.loads(line) for line in next(folder.glob("*_samples_ecgbench_arena.jsonl")).read_text().splitlines()]
    assert arena[0]["score"]["prediction"] == ["Regular rhythm with flutter waves.", "Sinus rhythm."]
    for task in results:
        if task != "ecgbench":
            assert list(folder.glob(f"*_samples_{task}.jsonl")), task
    log = (proc.stdout + proc.stderr).splitlines()
    notices = [line for line in log if "does not score answers by log-likelihood" in line]
    assert len(notices) == 1
