"""lmms-eval's ``llava_hf`` chat model (a Hugging Face model, unmodified) on ECGBench in the eval-only venv.

A tiny random ``LlavaForConditionalGeneration`` saved locally answers ECGBench items through the real CLI: requests
go through ``doc_to_messages`` and the model's processor chat template, the arena gets its second turn, option
scoring is not requested (chat models have no ``loglikelihood``), and results and sample logs are written.
Skipped where lmms-eval's ``llava_hf`` cannot load (the training venv has no decord).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.eval.ecgbench_fixture import write_ecgbench

pytestmark = pytest.mark.slow


def test_llava_hf_chat_model_runs_ecgbench(tmp_path, offline_env):
    pytest.importorskip("decord", reason="lmms-eval's llava_hf model imports decord (eval-only venv only)")
    from tests.evalonly.tiny_llava_hf import build_tiny_llava_hf

    model = build_tiny_llava_hf(tmp_path / "tiny-llava-hf")
    write_ecgbench(tmp_path / "data", configs=("cpsc-test", "mmmu-ecg", "arena"))
    env = {k: v for k, v in offline_env.items() if not k.startswith(("ECGBENCH_", "LLAVA_ECG_LLM_"))}
    env.update(ECGBENCH_ROOT=str(tmp_path / "data"), ECGBENCH_BOOTSTRAP="20")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args",
           f"pretrained={model},device=cpu,device_map=cpu,dtype=float32", "--tasks", "ecgbench_cpsc,ecgbench_mmmu,ecgbench_arena",
           "--gen_kwargs", "max_new_tokens=6", "--output_path", str(tmp_path / "out"), "--log_samples"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "in generating" not in log, log[-4000:]  # llava_hf logs generation errors and carries on
    files = sorted((tmp_path / "out").rglob("*_results.json"))
    assert files, log[-4000:]
    results = json.loads(files[-1].read_text())["results"]
    assert 0 <= results["ecgbench_cpsc"]["f1,none"] <= 100 and 0 <= results["ecgbench_mmmu"]["acc,none"] <= 100
    assert math.isnan(results["ecgbench_cpsc"]["auc_logprob,none"])
    assert math.isnan(results["ecgbench_arena"]["score,none"])  # no judge configured: NaN, never 0
    samples = files[-1].parent
    arena = [json.loads(line) for line in next(samples.glob("*_samples_ecgbench_arena.jsonl")).read_text().splitlines()]
    assert len(arena) == 2 and all(len(s["score"]["prediction"]) == 2 for s in arena)  # both turns answered
    assert "does not score answers by log-likelihood" in log
