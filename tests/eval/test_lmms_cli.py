"""The real lmms-eval CLI, offline, with the tiny LLaVA on a hand-made ECGBench covering every subset.

lmms-eval exits 0 on many evaluation errors, so these tests assert on the results and sample files it writes.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.eval.ecgbench_fixture import rows_by_config, write_ecgbench

pytestmark = pytest.mark.slow

TASK_METRICS = {
    "ecgbench_ptb": ("auc", "f1", "hl", "auc_pulse", "f1_pulse", "hl_pulse", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_code15": ("auc", "f1", "hl", "auc_pulse", "f1_pulse", "hl_pulse", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_cpsc": ("auc", "f1", "hl", "auc_pulse", "f1_pulse", "hl_pulse", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_ecgqa": ("acc", "acc_pulse", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_csn": ("acc", "acc_pulse", "acc_logprob", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_g12": ("acc", "acc_pulse", "acc_logprob", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_mmmu": ("acc", "acc_pulse", "acc_logprob", "auc_logprob", "unparseable", "ci95"),
    "ecgbench_ptb_report": ("score", "failed", "judge_model", "ci95"),
    "ecgbench_arena": ("score", "failed", "judge_model", "ci95"),
}


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory, offline_env):
    root = tmp_path_factory.mktemp("ecgbench")
    write_ecgbench(root)  # JSON + images for some subsets, HF parquet for the others
    env = dict(offline_env, ECGBENCH_ROOT=str(root), ECGBENCH_BOOTSTRAP="100")
    for name in ("ECGBENCH_SOURCE", "ECGBENCH_OPTION_SCORES", "LLAVA_ECG_LLM_BASE_URL", "LLAVA_ECG_LLM_MODEL"):
        env.pop(name, None)
    return env


def _results(out_dir):
    files = sorted(out_dir.rglob("*_results.json"))
    assert files, f"no results file under {out_dir}"
    return json.loads(files[-1].read_text()), files[-1].parent


def test_lmms_eval_cli_runs_the_ecgbench_group(tiny_checkpoint, bench_env, tmp_path):
    # No --include_path: the tasks come from the package's entry point.
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_ecg",
           "--model_args", f"pretrained={tiny_checkpoint},conv_template=llava_v1", "--tasks", "ecgbench",
           "--batch_size", "2", "--gen_kwargs", "max_new_tokens=12", "--output_path", str(tmp_path / "out"),
           "--log_samples"]
    proc = subprocess.run(cmd, env=bench_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results, folder = _results(tmp_path / "out")
    for task, metrics in TASK_METRICS.items():
        got = results["results"][task]
        for metric in metrics:
            assert f"{metric},none" in got, (task, metric, sorted(got))
        assert results["n-samples"][task]["effective"] == 2
        assert got["conv_template,none"] == "llava_v1"  # the template given, in every task's results
    for task in ("ecgbench_ptb", "ecgbench_code15", "ecgbench_cpsc"):
        assert 0 <= results["results"][task]["hl,none"] <= 100
        assert results["results"][task]["auc_pulse,none"] == pytest.approx(50.0)  # hard-label AUC of a non-answer
    for task in ("ecgbench_ecgqa", "ecgbench_csn", "ecgbench_g12", "ecgbench_mmmu"):
        assert 0 <= results["results"][task]["acc,none"] <= 100
        assert 0 <= results["results"][task]["auc_logprob,none"] <= 100  # option scores reached the aggregation
    for task in ("ecgbench_ptb_report", "ecgbench_arena"):  # no judge configured: NaN, never a silent 0
        assert math.isnan(results["results"][task]["score,none"])
        assert results["results"][task]["failed,none"] == 2
    assert set(results["group_subtasks"]["ecgbench"]) == set(TASK_METRICS)

    samples = {}
    for task in TASK_METRICS:
        lines = next(folder.glob(f"*_samples_{task}.jsonl")).read_text().splitlines()
        samples[task] = [json.loads(line) for line in lines]
    arena = samples["ecgbench_arena"][0]
    assert len(arena["score"]["prediction"]) == 2  # two turns answered
    assert arena["score"]["reference"]["id"] == rows_by_config()["arena"][0]["id"]
    cpsc = samples["ecgbench_cpsc"][0]["auc_logprob"]
    assert cpsc["options"][:2] == ["NORM", "AF"] and len(cpsc["logprobs"]) == 9
    assert all(lp < 0 for lp in cpsc["logprobs"])
    ecgqa = samples["ecgbench_ecgqa"][1]["acc"]
    assert ecgqa["reference"]["gold"] == ["lead V5", "lead I"]


def test_llava_ecg_eval_wrapper(tiny_checkpoint, bench_env, tmp_path):
    cmd = [sys.executable, "-m", "llava_ecg.cli", "eval", str(tiny_checkpoint), "--tasks", "ecgbench_mmmu",
           "--limit", "1", "--max-new-tokens", "4", "--no-option-scores", "-o", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=bench_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "--include_path" in proc.stdout and "results:" in proc.stdout
    results, _ = _results(tmp_path / "out")
    assert results["n-samples"]["ecgbench_mmmu"]["effective"] == 1
    assert math.isnan(results["results"]["ecgbench_mmmu"]["auc_logprob,none"])  # option scoring switched off


def test_llava_ecg_eval_fails_loudly_without_data(tiny_checkpoint, bench_env, tmp_path):
    env = dict(bench_env, ECGBENCH_ROOT=str(tmp_path))  # an empty folder
    cmd = [sys.executable, "-m", "llava_ecg.cli", "eval", str(tiny_checkpoint), "--tasks", "ecgbench_mmmu",
           "--limit", "1", "-o", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "no ECGBench data for 'mmmu-ecg'" in proc.stdout + proc.stderr
