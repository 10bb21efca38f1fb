"""A reduced quickstart through the real CLI: every stage runs, every artefact exists, the report parses.

The learning claim itself is measured by benchmarks/quickstart_learning.py (several seeds, full budget).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_dir

pytestmark = pytest.mark.slow


def test_reduced_quickstart_produces_every_artefact(tmp_path, offline_env):
    out = tmp_path / "qs"
    exe = Path(sys.executable).with_name("llava-ecg")
    proc = subprocess.run([str(exe), "quickstart", "-o", str(out), "--train-per-class", "6", "--test-per-class",
                           "3", "--max-steps", "6"], env=offline_env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    summary = json.loads((out / "quickstart.json").read_text())
    assert set(summary["stage_seconds"]) == {"records", "gallery", "instruct", "eval before", "train", "eval after",
                                             "report"}
    for rel in ("report.md", "loss.png", "confusion.png", "gallery/gallery.png", "records/splits.json",
                "instruct/ecginstruct.jsonl", "instruct/manifest.jsonl", "instruct/summary.png",
                "bench/rhythm-mcq.json", "checkpoint/config.json", "checkpoint/trainer_state.json"):
        assert (out / rel).is_file(), rel
    if shared_dir() is not None:
        assert (out / "gallery" / "real-records.png").is_file()
    for name in ("before", "after"):
        assert list((out / "eval" / name).rglob("*_results.json")), name
        assert list((out / "eval" / name).rglob("*_samples_ecgbench_rhythm.jsonl")), name
    # training rows carry render specs (on the fly), no image files were needed
    rows = [json.loads(line) for line in (out / "instruct" / "ecginstruct.jsonl").read_text().splitlines()]
    row = rows[0]
    assert row["render"]["layout"] == "rhythm" and row["conversations"][0]["value"].startswith("<image>\n")
    from llava_ecg.instruct.validate import check_row

    assert [check_row(r) for r in rows] == [[] for _ in rows]  # one <image>, at the start of the first turn
    assert not (out / "images-unused").exists()
    report = (out / "report.md").read_text()
    accs = dict(re.findall(r"^\| (before|after) training \| \*\*([\d.]+) %\*\*", report, re.M))
    assert set(accs) == {"before", "after"} and all(0 <= float(v) <= 100 for v in accs.values())
    assert "| chance | 25.0 % |" in report
    assert len(re.findall(r"^\| (sinus|atrial)", report, re.M)) == 4  # per-class F1 rows
    console = proc.stdout.split("\nreport: ")[0].rstrip().splitlines()
    assert console[-1].startswith("| "), console[-3:]  # the console copy ends on the per-class table, not a heading
    steps = json.loads((out / "checkpoint" / "trainer_state.json").read_text())["global_step"]
    assert steps == 6
    # one chat format: training records v1's template (vicuna_v1); both evaluations read that record
    figures = json.loads((out / "figures.json").read_text())
    assert figures["conv_template"] == "vicuna_v1" and figures["steps"] == 6
    assert figures["runs"]["after"]["acc"] == float(accs["after"])
    for name in ("before", "after"):
        log = (out / "logs" / f"eval-{name}.log").read_text()
        assert "conv_template vicuna_v1" in log, name
    assert "Conversation template: `vicuna_v1`" in report
