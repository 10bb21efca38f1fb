"""A dead endpoint (wrong port, server down) fails a batch after one item's retries, not after every item's."""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from llava_ecg.llm import ChatClient, LLMConfig


def _client(handler, sleep=lambda s: None, **kw):
    config = dict(base_url="http://judge.invalid/v1", model="m", max_retries=2, backoff_s=0.001, backoff_max_s=0.001)
    config.update(kw)
    return ChatClient(LLMConfig(**config), transport=httpx.MockTransport(handler), sleep=sleep)


def _ok(prompt: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": "echo " + prompt}}]})


@pytest.mark.parametrize("concurrency", [1, 2, 8])
def test_unreachable_endpoint_stops_the_batch(concurrency):
    calls, lock = [0], threading.Lock()

    def refuse(request):
        with lock:
            calls[0] += 1
        raise httpx.ConnectError("connection refused", request=request)

    results = _client(refuse, concurrency=concurrency).complete_many([f"p{i}" for i in range(40)], progress=False)
    assert len(results) == 40 and not any(r.ok for r in results)
    # only the items in flight when the first failure was recorded were sent, each with 1 + connect_retries attempts;
    # the bound holds whatever the thread timing (workers check a shared stop event before each item)
    sent = [r for r in results if r.attempts > 0]
    assert 1 <= len(sent) <= concurrency and all(r.attempts == 3 for r in sent)
    assert calls[0] == 3 * len(sent)
    not_sent = [r for r in results if r.error.startswith("not sent")]
    assert len(not_sent) == 40 - len(sent)
    assert all("connection error" in r.error and r.attempts == 0 for r in not_sent)
    assert len({r.key for r in results}) == 40  # every failure keeps its own request key


def test_refused_connection_gives_up_fast_but_5xx_and_timeouts_keep_retrying():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    def overloaded(request):
        return httpx.Response(503, json={"error": "busy"})

    def slow(request):
        raise httpx.ReadTimeout("read timed out", request=request)

    sleeps = []
    refused = _client(refuse, max_retries=6, sleep=sleeps.append).complete("x")
    assert refused.attempts == 3 and "cannot connect to http://judge.invalid/v1/chat/completions" in refused.error
    assert len(sleeps) == 2 and max(sleeps) <= 1.0
    assert _client(overloaded, max_retries=6).complete("x").attempts == 7
    assert _client(slow, max_retries=6).complete("x").attempts == 7


def test_a_real_refused_port_fails_a_batch_within_seconds():
    # a socket bound but not listening: connections to it are refused, and no other test can take the port meanwhile
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/v1"
        client = ChatClient(LLMConfig(base_url=url, model="m", concurrency=4))  # default retries and real sleeps
        start = time.monotonic()
        results = client.complete_many([f"p{i}" for i in range(20)], progress=False)
        elapsed = time.monotonic() - start
    assert not any(r.ok for r in results) and sum(r.attempts for r in results) <= 4 * 3
    assert elapsed < 10, elapsed  # was ~1 min per item with the full backoff


def test_a_transient_failure_after_a_success_does_not_stop_the_batch():
    def flaky(request):
        prompt = json.loads(request.content)["messages"][-1]["content"]
        if prompt == "p1":
            raise httpx.ConnectError("connection reset", request=request)
        return _ok(prompt)

    results = _client(flaky, concurrency=1).complete_many([f"p{i}" for i in range(6)], progress=False)
    assert [r.ok for r in results] == [True, False, True, True, True, True]
    assert "connection error" in results[1].error and not results[1].error.startswith("not sent")
