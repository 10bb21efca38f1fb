"""The shared OpenAI-compatible client against a real local HTTP server (tests/support/openai_stub.py)."""
import json
import socket
import threading
import time

import pytest

from llava_ecg.llm import ChatClient, LLMConfig, LLMConfigError, extract_json
from tests.support.openai_stub import OpenAIStub, Reply


def _client(stub, tmp_path=None, **kw):
    config = dict(base_url=stub.url, model="judge-1", backoff_s=0.001, backoff_max_s=0.01, timeout_s=5.0)
    if tmp_path is not None:
        config["cache_dir"] = str(tmp_path / "cache")
    config.update(kw)
    return ChatClient(LLMConfig(**config))


def test_success_sends_openai_request(tmp_path):
    with OpenAIStub(default="hello") as stub:
        result = _client(stub, api_key="sk-test", json_mode=True).complete("Say hello")
        assert result.ok and result.text == "hello" and result.attempts == 1 and not result.cached
        req = stub.requests[0]
        assert req.path == "/v1/chat/completions"
        assert req.headers["authorization"] == "Bearer sk-test"
        assert req.json["temperature"] == 0 and req.json["model"] == "judge-1"
        assert req.json["messages"] == [{"role": "user", "content": "Say hello"}]
        assert req.json["response_format"] == {"type": "json_object"}
        assert result.raw["choices"][0]["message"]["content"] == "hello"


def test_azure_style_header_and_api_version():
    with OpenAIStub(default="ok") as stub:
        _client(stub, api_key="az", auth="api-key", api_version="2024-08-01-preview").complete("x")
        req = stub.requests[0]
        assert req.headers["api-key"] == "az" and "authorization" not in req.headers
        assert req.query == {"api-version": ["2024-08-01-preview"]}


def test_retries_429_with_retry_after_then_succeeds():
    sleeps = []
    with OpenAIStub(default="fine") as stub:
        stub.push(Reply(status=429, headers={"Retry-After": "0.02"}), Reply(status=503))
        client = ChatClient(LLMConfig(base_url=stub.url, model="m", backoff_s=0.001), sleep=sleeps.append)
        result = client.complete("x")
    assert result.ok and result.attempts == 3
    assert sleeps[0] == pytest.approx(0.02)  # Retry-After honoured
    assert 0 < sleeps[1] <= 0.002  # then exponential backoff with jitter


def test_timeout_then_success():
    with OpenAIStub(default="late but ok") as stub:
        # margins wide enough for a loaded machine: the good reply must come within timeout_s
        stub.push(Reply(content="too slow", delay_s=4.0))
        result = _client(stub, timeout_s=1.0).complete("x")
    assert result.ok and result.text == "late but ok" and result.attempts == 2


def test_invalid_json_body_is_retried_and_then_a_failure():
    with OpenAIStub(default=Reply(body="<html>oops")) as stub:
        result = _client(stub, max_retries=2).complete("x")
        assert not result.ok and result.text is None
        assert result.attempts == 3 and len(stub.requests) == 3
        assert "not JSON" in result.error


def test_client_error_is_not_retried():
    with OpenAIStub(default=Reply(status=400)) as stub:
        result = _client(stub).complete("x")
        assert not result.ok and result.status == 400 and result.attempts == 1 and len(stub.requests) == 1


def test_connection_refused_is_a_failure_not_an_exception():
    with socket.socket() as held:  # bound, not listening: refused, and the port cannot be reused meanwhile
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/v1"
        result = ChatClient(LLMConfig(base_url=url, model="m", max_retries=1, backoff_s=0.001)).complete("x")
    assert not result.ok and "connection error" in result.error


def test_cache_makes_reruns_free_and_skips_failures(tmp_path):
    with OpenAIStub(default="cached answer") as stub:
        stub.push(Reply(status=400))
        first = _client(stub, tmp_path).complete("q")
        assert not first.ok
        second = _client(stub, tmp_path).complete("q")
        third = _client(stub, tmp_path).complete("q")
        assert second.ok and not second.cached and third.ok and third.cached
        assert third.text == "cached answer" and len(stub.requests) == 2
        other_model = _client(stub, tmp_path, model="judge-2").complete("q")
        assert not other_model.cached and len(stub.requests) == 3
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 2
    entry = json.loads(files[0].read_text())
    assert entry["response"]["choices"][0]["message"]["content"] == "cached answer" and "request" in entry


def test_complete_many_keeps_order_and_limits_concurrency():
    active, peak, lock = [0], [0], threading.Lock()

    def responder(req):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)  # long enough that 3 workers overlap even on a loaded machine
        with lock:
            active[0] -= 1
        return "echo " + req.prompt

    with OpenAIStub(responder=responder) as stub:
        results = _client(stub, concurrency=3).complete_many([f"p{i}" for i in range(12)], progress=False)
    assert [r.text for r in results] == [f"echo p{i}" for i in range(12)]
    assert 1 < peak[0] <= 3


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("LLAVA_ECG_LLM_BASE_URL", "http://h/v1")
    monkeypatch.setenv("LLAVA_ECG_LLM_MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    cfg = LLMConfig.from_env(model=None, concurrency=2)
    assert (cfg.base_url, cfg.model, cfg.api_key, cfg.concurrency) == ("http://h/v1", "m", "k", 2)
    monkeypatch.delenv("LLAVA_ECG_LLM_BASE_URL")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMConfigError, match="BASE_URL"):
        LLMConfig.from_env()


def test_config_errors_are_typed_and_immediate(monkeypatch):
    # a URL without a scheme would otherwise be a transport error retried with backoff for every item
    with pytest.raises(LLMConfigError, match="http:// or https://"):
        LLMConfig(base_url="localhost:8000/v1", model="m")
    monkeypatch.setenv("LLAVA_ECG_LLM_CONCURRENCY", "eight")
    with pytest.raises(LLMConfigError, match="CONCURRENCY='eight'"):
        LLMConfig.from_env(base_url="http://h/v1", model="m")


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Sure:\n```json\n{"Diagnosis": {"Score": 8}}\n```', {"Diagnosis": {"Score": 8}}),
    ('{Diagnosis: {Score: 8, Explanation: "ok"}}', {"Diagnosis": {"Score": 8, "Explanation": "ok"}}),
    ("{'Accuracy': {'Score': 7,}}", {"Accuracy": {"Score": 7}}),
    ('The scores are {"Rhythm": {"Score": 10}} overall.', {"Rhythm": {"Score": 10}}),
    ("no json here", None),
    ("", None),
])
def test_extract_json(text, expected):
    assert extract_json(text) == expected
