"""benchmarks/eval_speed.py --quick: every evaluation path is timed in one run and answers as upstream's generate.

Not the speed (a shared CPU says little): that every figure is there and that the greedy outputs of the fast path
and of the exported HF model (when the eval-only install exists) equal the reference's, item by item.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _evalonly_python() -> str | None:
    for candidate in (os.environ.get("LLAVA_ECG_EVALONLY_PYTHON"), str(REPO / ".venv-evalonly" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def test_quick_run_times_every_path_and_outputs_agree(offline_env, tmp_path):
    hf_python = _evalonly_python()
    cmd = [sys.executable, str(REPO / "benchmarks" / "eval_speed.py"), "--quick", "--workdir", str(tmp_path)]
    cmd += ["--evalonly-python", hf_python] if hf_python else ["--evalonly-python", str(tmp_path / "none")]
    proc = subprocess.run(cmd, env=offline_env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    data = json.loads((tmp_path / "eval_speed.json").read_text())
    assert data["settings"]["layers"] == 32 and data["settings"]["page"] == [2200, 1700]  # the proxy's shape
    assert all(f > 0 for f in data["settings"]["image_features"])
    paths = data["paths"]
    expected = {"reference", "fast"} | ({"hf", "hf_static"} if hf_python else set())
    assert set(paths) == expected, (set(paths), data.get("hf_skipped"))
    if not hf_python:
        assert "no such python" in data["hf_skipped"] and "hf: skipped" in proc.stdout
    else:
        assert data["hf_inputs"]["prompt_ids_equal"] == data["settings"]["items"]  # the export's chat template
        assert data["hf_inputs"]["pixels_max_levels_vs_llava_ecg"] <= 2.01  # our fast anyres path's bound
    for name, f in paths.items():
        for key in ("ms_per_decode_step", "items_per_s", "items_per_s_batch_2", "step_time_vs_reference",
                    "speedup_items_per_s_vs_reference"):
            assert key in f, (name, key)
        assert f["items_per_s"] > 0 and f["outputs_compared"] == 2 * data["settings"]["items"]
        assert f["outputs_differing_from_reference"] == 0, (name, f["differing_items"])
        assert f"| {name} |" in proc.stdout
