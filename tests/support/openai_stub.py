"""A real local HTTP server that speaks the OpenAI ``/v1/chat/completions`` protocol, for tests.

Threaded, loopback only, port 0 (the OS picks a free port). Replies are scripted: a FIFO queue (``push``),
per-prompt queues (``on(substring, ...)``: the request whose last message contains ``substring`` gets the next
reply of that queue; the last reply repeats once the queue is down to one), or a ``responder(request_json)``
function. A :class:`Reply` can carry an HTTP status (e.g. 429 with ``Retry-After``), a delay (to provoke client
timeouts), a raw body (invalid JSON) or a JSON body override. Every request is recorded (``stub.requests``).

    with OpenAIStub(responder=lambda req: '{"Diagnosis": {"Score": 8}}') as stub:
        client = ChatClient(LLMConfig(base_url=stub.url, model="judge"))
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    content: str | None = "OK"  # assistant message text (ignored when ``body``/``json_body`` is set)
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw body text, e.g. "not json {"
    json_body: Any = None  # a JSON body sent verbatim, e.g. {"choices": []}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    at: float

    @property
    def prompt(self) -> str:
        """Text of the last message (``""`` when absent)."""
        try:
            content = self.json["messages"][-1]["content"]
        except (KeyError, IndexError, TypeError):
            return ""
        if isinstance(content, list):  # multimodal content parts
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)


Responder = Callable[[RecordedRequest], "Reply | str"]


class OpenAIStub:
    def __init__(self, responder: Responder | None = None, *, default: Reply | str | None = None):
        self.responder = responder
        self.default = default
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._by_prompt: list[tuple[str, deque[Reply]]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ scripting
    def push(self, *replies: Reply | str) -> OpenAIStub:
        with self._lock:
            self._queue.extend(_as_reply(r) for r in replies)
        return self

    def on(self, substring: str, *replies: Reply | str) -> OpenAIStub:
        with self._lock:
            self._by_prompt.append((substring, deque(_as_reply(r) for r in replies)))
        return self

    def reset_script(self) -> OpenAIStub:
        """Forget every scripted reply (``push`` and ``on``); the responder and default stay."""
        with self._lock:
            self._queue.clear()
            self._by_prompt.clear()
        return self

    def requests_for(self, substring: str) -> list[RecordedRequest]:
        return [r for r in self.requests if substring in r.prompt]

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            for substring, queue in self._by_prompt:
                if substring in request.prompt and queue:
                    return queue.popleft() if len(queue) > 1 else queue[0]
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return _as_reply(self.responder(request))
        if self.default is not None:
            return _as_reply(self.default)
        return Reply(status=500, json_body={"error": {"message": "stub: no scripted reply"}})

    # ------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        """Base URL including ``/v1``, as an OpenAI-compatible client expects."""
        if self._server is None:
            raise RuntimeError("stub not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                if urlsplit(self.path).path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    payload = None
                parts = urlsplit(self.path)
                request = RecordedRequest("POST", parts.path, parse_qs(parts.query),
                                          {k.lower(): v for k, v in self.headers.items()}, payload, time.time())
                with stub._lock:
                    stub.requests.append(request)
                if not parts.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": {"message": f"unknown path {parts.path}"}}))
                    return
                reply = stub._next_reply(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.body is not None:
                    body = reply.body
                elif reply.json_body is not None:
                    body = json.dumps(reply.json_body)
                elif reply.status != 200:
                    body = json.dumps({"error": {"message": f"stub error {reply.status}", "code": reply.status}})
                else:
                    body = json.dumps(stub._completion(payload, reply.content))
                self._send(reply.status, body, reply.headers)

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None):
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def _completion(self, payload: Any, content: str | None) -> dict:
        model = payload.get("model", "stub") if isinstance(payload, dict) else "stub"
        return {
            "id": f"chatcmpl-stub-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": _usage(payload, content),
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _usage(payload: Any, content: str | None) -> dict:
    """Token counts estimated as characters / 4 (what a tokenizer gives English text, roughly)."""
    messages = payload.get("messages", []) if isinstance(payload, dict) else []
    prompt = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    p, c = max(1, prompt // 4), max(1, len(content or "") // 4)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _as_reply(reply: Reply | str) -> Reply:
    return reply if isinstance(reply, Reply) else Reply(content=reply)
