"""A small client for any OpenAI-compatible ``/chat/completions`` endpoint.

Works with OpenAI, Azure OpenAI (``auth="api-key"`` + ``api_version``), vLLM, SGLang and llama.cpp servers.
Built on ``httpx`` directly rather than the ``openai`` SDK: we need only one endpoint, the SDK is not a dependency
of this project, and owning the retry loop lets us honour ``Retry-After``/``retry-after-ms``, add jitter and count
attempts without fighting the SDK's own retries. A tenacity policy would be as long as the loop below.

Every call returns a :class:`ChatResult` whose ``ok`` tells success from failure — callers never see a silent
empty string or a 0.
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from llava_ecg.errors import LlavaEcgError
from llava_ecg.llm.cache import ResponseCache, request_key

CONNECT_BACKOFF_MAX_S = 1.0
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
ENV_PREFIX = "LLAVA_ECG_LLM_"


class LLMConfigError(LlavaEcgError):
    """The endpoint is not configured (no base URL or model) or an option is invalid."""


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to call the model. ``base_url`` includes the API root, e.g. ``https://api.openai.com/v1``,
    ``http://localhost:8000/v1`` or ``https://RES.openai.azure.com/openai/deployments/DEPLOYMENT``."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)  # never printed in logs or tracebacks
    auth: str = "bearer"  # "bearer" (Authorization: Bearer KEY) or "api-key" (Azure's header)
    api_version: str | None = None  # Azure: sent as ?api-version=
    temperature: float = 0.0
    max_tokens: int | None = None
    json_mode: bool = False  # response_format={"type": "json_object"}
    timeout_s: float = 120.0
    max_retries: int = 6
    connect_retries: int = 2  # refused / unresolvable host: nothing is listening, so fail within seconds
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    concurrency: int = 8
    cache_dir: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.base_url:
            raise LLMConfigError(f"no LLM endpoint: pass a base URL or set {ENV_PREFIX}BASE_URL")
        if not self.base_url.lower().startswith(("http://", "https://")):
            # httpx would report this as a transport error, retried with backoff for minutes per item
            raise LLMConfigError(f"LLM base URL {self.base_url!r} must start with http:// or https://")
        if not self.model:
            raise LLMConfigError(f"no LLM model: pass a model name or set {ENV_PREFIX}MODEL")
        if self.auth not in ("bearer", "api-key"):
            raise LLMConfigError(f"auth must be 'bearer' or 'api-key', not {self.auth!r}")
        if self.concurrency < 1:
            raise LLMConfigError("concurrency must be >= 1")
        if self.max_retries < 0 or self.connect_retries < 0:
            raise LLMConfigError("max_retries and connect_retries must be >= 0")
        if not self.timeout_s > 0:
            raise LLMConfigError(f"timeout_s must be > 0, not {self.timeout_s!r}")

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMConfig:
        """Values from ``overrides`` (``None`` = unset), else the environment:
        ``LLAVA_ECG_LLM_BASE_URL`` (or ``OPENAI_BASE_URL``), ``LLAVA_ECG_LLM_MODEL``, ``LLAVA_ECG_LLM_KEY``
        (or ``OPENAI_API_KEY``), ``LLAVA_ECG_LLM_AUTH``, ``LLAVA_ECG_LLM_API_VERSION``, ``LLAVA_ECG_LLM_CACHE``,
        ``LLAVA_ECG_LLM_CONCURRENCY``."""
        env = os.environ
        values: dict[str, Any] = {
            "base_url": env.get(ENV_PREFIX + "BASE_URL") or env.get("OPENAI_BASE_URL") or "",
            "model": env.get(ENV_PREFIX + "MODEL") or "",
            "api_key": env.get(ENV_PREFIX + "KEY") or env.get("OPENAI_API_KEY"),
            "auth": env.get(ENV_PREFIX + "AUTH") or "bearer",
            "api_version": env.get(ENV_PREFIX + "API_VERSION"),
            "cache_dir": env.get(ENV_PREFIX + "CACHE"),
        }
        if env.get(ENV_PREFIX + "CONCURRENCY"):
            try:
                values["concurrency"] = int(env[ENV_PREFIX + "CONCURRENCY"])
            except ValueError:
                raise LLMConfigError(f"{ENV_PREFIX}CONCURRENCY={env[ENV_PREFIX + 'CONCURRENCY']!r} is not an "
                                     "integer") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class ChatResult:
    """One completion. ``ok`` is False on any failure; ``error`` then says what happened."""

    ok: bool
    text: str | None
    model: str
    key: str
    attempts: int = 0
    cached: bool = False
    status: int | None = None
    error: str | None = None
    raw: Any = None  # the endpoint's JSON response (or raw body text when it was not JSON)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("ok", "text", "model", "key", "attempts", "cached", "status", "error")}


class ChatClient:
    """Thread-safe; share one per endpoint. ``complete`` for one request, ``complete_many`` for a batch."""

    def __init__(self, config: LLMConfig, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None):
        self.config = config
        self._sleep = sleep
        self._transport = transport
        self._limit = threading.BoundedSemaphore(config.concurrency)
        self._http = httpx.Client(timeout=httpx.Timeout(config.timeout_s), transport=transport)
        self.cache = ResponseCache(config.cache_dir) if config.cache_dir else None

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def with_options(self, **changes: Any) -> ChatClient:
        return ChatClient(replace(self.config, **changes), sleep=self._sleep, transport=self._transport)

    # ------------------------------------------------------------------ requests
    def _url(self) -> str:
        return self.config.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self.config.extra_headers}
        if self.config.api_key:
            if self.config.auth == "api-key":
                headers["api-key"] = self.config.api_key
            else:
                headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _body(self, messages: Sequence[dict], params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "messages": list(messages),
                                "temperature": self.config.temperature}
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        if self.config.json_mode:
            body["response_format"] = {"type": "json_object"}
        body.update(self.config.extra_body)
        body.update(params)
        return body

    def complete(self, messages: Sequence[dict] | str, **params: Any) -> ChatResult:
        """One chat completion (``messages`` may be a plain user prompt). Cached successes are returned
        without a request; failures are never cached."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body = self._body(messages, params)
        key = request_key(self.config.model, {k: v for k, v in body.items() if k != "model"})
        if self.cache is not None:
            hit = self.cache.get(self.config.model, key)
            if hit is not None:
                return ChatResult(True, hit.get("text"), self.config.model, key, cached=True, raw=hit.get("response"))
        result = self._request_with_retries(body, key)
        if result.ok and self.cache is not None:
            self.cache.put(self.config.model, key, {
                "request": body, "response": result.raw, "text": result.text,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            })
        return result

    def complete_many(self, requests: Sequence[Sequence[dict] | str], *, desc: str = "LLM",
                      progress: bool = True, params: Sequence[dict] | None = None) -> list[ChatResult]:
        """Complete every request with at most ``concurrency`` in flight; results in input order. ``params``: per
        request extra body fields (e.g. ``{"seed": 7}``), as ``complete(messages, **params[i])``.

        If a request fails on connection errors or timeouts before any request has succeeded, the endpoint is taken
        as unreachable (a wrong URL or port, a server that is down): the requests in flight finish, no further one is
        started, and those not sent come back failed with that reason. The workers check a shared event before each
        item and the failing worker sets it before it takes another item, so at most ``concurrency`` items are ever
        sent to a dead endpoint, whatever the thread timing. Otherwise every item would pay its full backoff."""
        from tqdm.auto import tqdm

        results: list[ChatResult | None] = [None] * len(requests)
        stop = threading.Event()
        state = {"succeeded": False, "reason": None}
        lock = threading.Lock()

        def run(i: int, request) -> None:
            if stop.is_set():
                return
            result = results[i] = self.complete(request, **(params[i] if params else {}))
            with lock:
                state["succeeded"] = state["succeeded"] or result.ok
                if not state["succeeded"] and state["reason"] is None and _unreachable(result):
                    state["reason"] = result.error
                    stop.set()

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool, \
                tqdm(total=len(requests), desc=desc, disable=not progress) as bar:
            futures = [pool.submit(run, i, r) for i, r in enumerate(requests)]
            for future in as_completed(futures):
                future.result()  # a bug in ``complete`` surfaces here instead of vanishing with its thread
                bar.update(1)
        for i, request in enumerate(requests):
            if results[i] is None:
                messages = [{"role": "user", "content": request}] if isinstance(request, str) else request
                key = request_key(self.config.model, {k: v for k, v in self._body(
                    messages, params[i] if params else {}).items()
                                                      if k != "model"})
                results[i] = ChatResult(False, None, self.config.model, key,
                                        error=f"not sent: the endpoint looks unreachable ({state['reason']})")
        return results  # type: ignore[return-value]

    def _request_with_retries(self, body: dict, key: str) -> ChatResult:
        """Timeouts, 5xx/429 and malformed 200s are retried ``max_retries`` times with exponential backoff; a refused
        connection (or an unknown host) only ``connect_retries`` times with at most ``CONNECT_BACKOFF_MAX_S`` between:
        a mistyped port must not cost a minute of backoff per item."""
        params = {"api-version": self.config.api_version} if self.config.api_version else None
        last_error, status, raw = "no attempt made", None, None
        attempts = connect_failures = 0
        for attempt in range(1, self.config.max_retries + 2):
            attempts = attempt
            retry_after, max_delay = None, None
            try:
                with self._limit:
                    response = self._http.post(self._url(), json=body, headers=self._headers(), params=params)
            except httpx.TimeoutException as exc:
                last_error, status, raw = f"timeout after {self.config.timeout_s:g}s ({type(exc).__name__})", None, None
            except httpx.ConnectError as exc:
                last_error, status, raw = f"connection error: cannot connect to {self._url()} ({exc})", None, None
                connect_failures += 1
                if connect_failures > self.config.connect_retries:
                    break
                max_delay = CONNECT_BACKOFF_MAX_S
            except httpx.TransportError as exc:  # e.g. a connection reset mid-response: transient, full retries
                last_error, status, raw = f"connection error: {exc}", None, None
            else:
                status = response.status_code
                try:
                    raw = response.json()
                except ValueError:
                    raw = response.text
                if status == 200:
                    text, error = _message_text(raw)
                    if error is None:
                        return ChatResult(True, text, self.config.model, key, attempts=attempt, status=status, raw=raw)
                    last_error = error  # a malformed 200 is retried: proxies and overloaded servers produce them
                elif status in RETRY_STATUSES:
                    last_error = f"HTTP {status}: {_short(raw)}"
                    retry_after = _retry_after(response.headers)
                else:
                    return ChatResult(False, None, self.config.model, key, attempts=attempt, status=status,
                                      error=f"HTTP {status}: {_short(raw)}", raw=raw)
            if attempt <= self.config.max_retries:
                delay = self._delay(attempt, retry_after)
                self._sleep(delay if max_delay is None else min(delay, max_delay))
        return ChatResult(False, None, self.config.model, key, attempts=attempts, status=status,
                          error=f"gave up after {attempts} attempts: {last_error}", raw=raw)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), 10 * self.config.backoff_max_s)
        cap = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)  # "equal jitter": spread retries without losing the backoff


def _unreachable(result: ChatResult) -> bool:
    return (not result.ok and result.status is None and result.attempts > 0
            and any(m in (result.error or "") for m in ("connection error", "timeout after")))


def _message_text(raw: Any) -> tuple[str | None, str | None]:
    if not isinstance(raw, dict):
        return None, f"response is not JSON: {_short(raw)}"
    try:
        content = raw["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None, f"response has no choices[0].message.content: {_short(raw)}"
    if content is None:
        return None, "response content is null (refusal or filtered)"
    return str(content), None


def _retry_after(headers: httpx.Headers) -> float | None:
    if "retry-after-ms" in headers:
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None


def _short(raw: Any, limit: int = 200) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= limit else text[:limit] + "…"


def default_cache_dir() -> Path:
    """``$LLAVA_ECG_LLM_CACHE`` or ``~/.cache/llava_ecg/llm``."""
    return Path(os.environ.get(ENV_PREFIX + "CACHE") or Path.home() / ".cache" / "llava_ecg" / "llm")
