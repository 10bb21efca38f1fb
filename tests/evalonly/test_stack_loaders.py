"""ms-swift's own dataset loader reads a ``llava-ecg export-data --format swift`` export, row for row.

ms-swift 4.6.0 pins ``datasets<4.8.5`` (the eval-only venv has 5.2), so scripts/ci_eval_only.sh installs it with
``--no-deps`` into a side folder outside the venv (``LLAVA_ECG_SWIFT_PATH``) and this test runs its
``swift.dataset.load_dataset`` there in a subprocess. Skipped where that folder is not set up.
LLaMA-Factory cannot load at all beside the venv's torch (its data module imports torchaudio, which has no build
for torch 2.13): its export is checked against its documented schema in tests/train/test_export_data.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SWIFT = os.environ.get("LLAVA_ECG_SWIFT_PATH")
LOAD = """
import json, sys
from swift.dataset import load_dataset
train, val = load_dataset([sys.argv[1]])
rows = [{"messages": r["messages"], "images": [i["path"] for i in r["images"] or []]} for r in train]
print(json.dumps({"n": len(train), "val": val is not None and len(val) > 0, "rows": rows}))
"""


@pytest.mark.skipif(not SWIFT, reason="ms-swift side folder not set up (LLAVA_ECG_SWIFT_PATH; CI's eval-only venv)")
def test_ms_swift_loads_the_export_one_to_one(tmp_path, offline_env):
    from llava_ecg.cli import main
    from llava_ecg.train.stacks.export import export_data

    assert main(["build", "instruct", "--synthetic", "2", "-o", str(tmp_path / "b"), "--samples-per-record", "2",
                 "--render-mix", "fixed", "--distort", "none", "--no-progress"]) == 0
    rows = tmp_path / "rows.jsonl"
    extra = [{"id": "text", "conversations": [{"from": "human", "value": "What is a normal QRS width?"},
                                              {"from": "gpt", "value": "Under 120 ms."}]}]
    rows.write_text((tmp_path / "b" / "ecginstruct.jsonl").read_text() + "".join(json.dumps(r) + "\n" for r in extra))
    summary = export_data(rows, tmp_path / "swift", "swift", records_root=tmp_path / "b" / "records", progress=False)
    written = [json.loads(x) for x in (tmp_path / "swift" / "ecginstruct.jsonl").read_text().splitlines()]
    env = dict(offline_env, PYTHONPATH=SWIFT, HF_DATASETS_CACHE=str(tmp_path / "hf"),
               MODELSCOPE_CACHE=str(tmp_path / "ms"))
    proc = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "swift" / "ecginstruct.jsonl")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["n"] == summary.rows_written == len(written) == 5 and not loaded["val"]
    for got, want in zip(loaded["rows"], written):
        assert got["messages"] == want["messages"] and got["images"] == want["images"]
    assert loaded["rows"][-1]["images"] == []  # the text-only row
