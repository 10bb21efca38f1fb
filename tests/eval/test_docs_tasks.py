"""docs/evaluation.md's task table lists every task that ``lmms-eval --tasks list`` shows from our folder."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_task_table_lists_every_shipped_task():
    tasks = set()
    for path in (REPO / "lmms_eval_tasks" / "ecgbench").glob("*.yaml"):
        match = re.search(r"^task:[ \t]*(\w+)", path.read_text(), re.M)
        if match:
            tasks.add(match.group(1))
    assert {"ecgbench_ptb", "ecgbench_rhythm"} <= tasks
    table = set(re.findall(r"^\| `(ecgbench_\w+)` \|", (REPO / "docs" / "evaluation.md").read_text(), re.M))
    assert tasks <= table, sorted(tasks - table)
