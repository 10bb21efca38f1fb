"""The evaluation path imports without the training stack (an lmms-eval user's environment has none of it)."""
from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
sys.meta_path.insert(0, Block())
"""


def _run(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    script = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_scoring_judge_and_report_need_no_torch_transformers_or_llava():
    proc = _run(("torch", "transformers", "llava", "deepspeed", "peft", "lmms_eval"), """
import llava_ecg.eval, llava_ecg.eval.report, llava_ecg.eval.judge, llava_ecg.catalog.baselines
from llava_ecg.cli import build_parser
build_parser()
print("ok")
""")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_lmms_eval_plugin_and_tasks_need_no_upstream_llava():
    # (transformers probes for deepspeed/peft itself, so only llava is hidden here; the eval-only venv of
    # scripts/ci_eval_only.sh has neither llava nor deepspeed installed)
    proc = _run(("llava",), """
import lmms_eval.models  # loads the entry points, our plugin among them, as lmms-eval does at start-up
import llava_ecg.eval.lmms.task, llava_ecg.eval.lmms.hooks
from lmms_eval.tasks import TaskManager
assert "llava_ecg" in lmms_eval.models.list_available_models()
assert "ecgbench_arena" in TaskManager("WARNING").all_tasks
print("ok")
""")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_hf_dataset_and_stack_exports_need_no_upstream_llava():
    proc = _run(("llava", "deepspeed"), """
import llava_ecg.train.hf_data, llava_ecg.train.stacks.export
print("ok")
""")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
