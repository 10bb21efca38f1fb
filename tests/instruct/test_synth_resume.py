"""A synthesis build killed (SIGKILL) mid-chunk resumes with the same command: finished chunks are skipped, no
request that was answered before the kill is sent again, and the result equals an uninterrupted build."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from llava_ecg.cli import main
from tests.support.fake_llm import responder
from tests.support.openai_stub import OpenAIStub

REPO = Path(__file__).resolve().parents[2]
ANSWERED_BEFORE_KILL = 14  # chunk 0: 6 generator + 6 judge requests; then 2 of chunk 1's generator requests


def _args(url: str, out: Path) -> list[str]:
    return ["build", "instruct", "--synthetic", "4", "-o", str(out), "--synth-url", url, "--synth-model", "gen",
            "--judge-model", "judge", "--synth-tasks", "2", "--chunk-size", "2", "--no-progress"]


def _cached(out: Path) -> int:
    return sum(1 for _ in (out / "llm_cache").rglob("*.json")) if (out / "llm_cache").exists() else 0


def test_kill_and_resume_sends_no_answered_request_twice(tmp_path, monkeypatch):
    monkeypatch.setattr("llava_ecg.instruct.manifest.bar_chart", lambda counts, path: open(path, "wb").close())
    fake, release = responder(), threading.Event()
    answered: list[str] = []
    lock = threading.Lock()

    def respond(request):
        with lock:
            hang = len(answered) >= ANSWERED_BEFORE_KILL and not release.is_set()
            if not hang:
                answered.append(json.dumps(request.json, sort_keys=True))
        if hang:
            release.wait(60)  # the build is killed while these are in flight
            return "Task: late\nResponse: never read"
        return fake(request)

    out = tmp_path / "out"
    with OpenAIStub(responder=respond) as stub:
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.Popen([sys.executable, "-m", "llava_ecg.cli", *_args(stub.url, out)], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while _cached(out) < ANSWERED_BEFORE_KILL or len(stub.requests) <= ANSWERED_BEFORE_KILL:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the build never reached the kill point"
                time.sleep(0.05)
        finally:
            proc.kill()
            proc.wait()
            release.set()
        parts = out / "parts" / "000of001"
        assert (parts / "rows-000000.jsonl").exists() and not (parts / "rows-000001.jsonl").exists()
        before = set(answered)
        assert len(before) == ANSWERED_BEFORE_KILL and _cached(out) == ANSWERED_BEFORE_KILL
        n_first = len(stub.requests)

        assert main(_args(stub.url, out)) == 0  # the same command resumes
        resent = [r for r in stub.requests[n_first:] if json.dumps(r.json, sort_keys=True) in before]
        assert resent == []
        assert main(_args(stub.url, tmp_path / "fresh")) == 0  # an uninterrupted build, own cache
    for name in ("ecginstruct.jsonl", "manifest.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
