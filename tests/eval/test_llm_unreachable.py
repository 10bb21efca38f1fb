"""A dead endpoint (wrong port, server down) fails a batch after one item's retries, not after every item's."""
from __future__ import annotations

import json
import threading

import httpx

from llava_ecg.llm import ChatClient, LLMConfig


def _client(handler, **kw):
    config = LLMConfig(base_url="http://judge.invalid/v1", model="m", max_retries=2, backoff_s=0.001,
                       backoff_max_s=0.001, **kw)
    return ChatClient(config, transport=httpx.MockTransport(handler), sleep=lambda s: None)


def _ok(prompt: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": "echo " + prompt}}]})


def test_unreachable_endpoint_stops_the_batch():
    calls, lock = [0], threading.Lock()

    def refuse(request):
        with lock:
            calls[0] += 1
        raise httpx.ConnectError("connection refused", request=request)

    results = _client(refuse, concurrency=2).complete_many([f"p{i}" for i in range(40)], progress=False)
    assert len(results) == 40 and not any(r.ok for r in results)
    assert calls[0] <= 2 * 3 + 3  # the items in flight (2 x 3 attempts) and no more, not 40 x 3
    not_sent = [r for r in results if r.error.startswith("not sent")]
    assert len(not_sent) >= 35 and all("connection error" in r.error and r.attempts == 0 for r in not_sent)
    assert len({r.key for r in results}) == 40  # every failure keeps its own request key


def test_a_transient_failure_after_a_success_does_not_stop_the_batch():
    def flaky(request):
        prompt = json.loads(request.content)["messages"][-1]["content"]
        if prompt == "p1":
            raise httpx.ConnectError("connection reset", request=request)
        return _ok(prompt)

    results = _client(flaky, concurrency=1).complete_many([f"p{i}" for i in range(6)], progress=False)
    assert [r.ok for r in results] == [True, False, True, True, True, True]
    assert "connection error" in results[1].error and not results[1].error.startswith("not sent")
