"""The prepared GPU check runs end to end on CPU with tiny shapes, so it cannot rot before a GPU is at hand."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_gpu_check_dry_run_writes_every_figure(offline_env, tmp_path):
    out = tmp_path / "work" / "gpu_check.json"  # no --out: the figures go under the output folder
    in_checkout = REPO / "gpu_check.json"
    was_there = in_checkout.exists()
    env = dict(offline_env, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run",
                           "--workdir", str(tmp_path / "work")], env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert was_there or not in_checkout.exists()
    data = json.loads(out.read_text())
    assert "errors" not in data, data.get("errors")
    train, ev = data["train"], data["eval"]
    assert train["optimizer_steps"] == 2 and train["tokens_per_s"] > 0 and train["settings"]["bf16"]
    assert train["settings"]["deepspeed"].endswith("zero2.json") and train["image_tokens_per_sample"] == 5 * 16
    assert ev["batch_1"]["items_per_s_4_tokens"] > 0 and ev["batch_4"]["decode_s_per_token_step"] >= 0
    assert ev["ecgbench_projection"]["items"] == 11297 and ev["ecgbench_projection"]["minutes"] > 0
    assert ev["batched_vs_single"]["differ"] == 0  # fp32 on CPU: left padding changes nothing
    assert "| train.tokens_per_s |" in proc.stdout  # the table
