"""A generic client for OpenAI-compatible chat endpoints, shared by the LLM judge (eval) and the optional LLM
rewrite/quality filter (instruct).

``LLMConfig.from_env(...)`` / ``LLMConfig(base_url=..., model=...)`` -> ``ChatClient(config)``;
``client.complete(messages) -> ChatResult`` (``ok``/``text``/``error``/``raw``/``cached``/``attempts``);
``client.complete_many([...])`` runs a batch with the concurrency limit and a progress bar;
``extract_json(text)`` recovers JSON from chatty output. See docs/judge.md.
"""
from llava_ecg.llm.cache import ResponseCache, request_key
from llava_ecg.llm.client import ChatClient, ChatResult, LLMConfig, LLMConfigError, default_cache_dir
from llava_ecg.llm.jsonx import extract_json

__all__ = ["ChatClient", "ChatResult", "LLMConfig", "LLMConfigError", "ResponseCache", "default_cache_dir",
           "extract_json", "request_key"]
