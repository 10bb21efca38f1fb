"""The ECGBench tasks are found three ways: --include_path, the package's entry point, ``llava-ecg tasks-path``."""
from __future__ import annotations

import subprocess
import sys

from llava_ecg.eval.lmms.paths import tasks_path

NAMES = {"ecgbench", "ecgbench_in_domain", "ecgbench_out_of_domain", "ecgbench_ptb", "ecgbench_ptb_report",
         "ecgbench_code15", "ecgbench_ecgqa", "ecgbench_cpsc", "ecgbench_csn", "ecgbench_g12", "ecgbench_mmmu",
         "ecgbench_arena"}


def _index(include_path, *, hook: bool) -> dict:
    from lmms_eval.tasks import TaskManager

    init = TaskManager.initialize_tasks
    if not hook:
        init = getattr(init, "__wrapped__", init)  # the method as lmms-eval ships it
    manager = TaskManager.__new__(TaskManager)
    return init(manager, include_path=include_path, include_defaults=False)


def test_include_path_alone_indexes_every_task():
    index = _index([str(tasks_path())], hook=False)
    assert NAMES <= set(index)
    assert index["ecgbench_ptb"]["type"] == "python_task" and index["ecgbench"]["type"] == "group"
    assert NAMES <= set(_index([str(tasks_path() / "ecgbench")], hook=False))


def test_entry_point_registers_model_and_task_folder():
    import lmms_eval.models as registry  # loads every lmms_eval.models entry point

    from llava_ecg.eval.lmms.model import LlavaEcg

    assert registry.MODEL_REGISTRY_V2.get_model_class("llava_ecg") is LlavaEcg
    assert NAMES <= set(_index(None, hook=True))
    index = _index([str(tasks_path())], hook=True)  # passing our folder too does not duplicate anything
    assert NAMES <= set(index)


def test_entry_point_in_a_fresh_lmms_eval_process(offline_env):
    code = ("import lmms_eval.evaluator\nfrom lmms_eval.tasks import TaskManager\n"
            "print(sorted(t for t in TaskManager('WARNING', include_defaults=False).all_tasks))")
    out = subprocess.run([sys.executable, "-c", code], env=offline_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert NAMES <= set(eval(out.stdout.strip().splitlines()[-1]))


def test_tasks_path_command(capsys):
    from llava_ecg.cli import main

    assert main(["tasks-path"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tasks_path())
    assert (tasks_path() / "ecgbench" / "ecgbench.yaml").is_file()
    assert (tasks_path() / "ecgbench" / "_default_template_yaml").is_file()
