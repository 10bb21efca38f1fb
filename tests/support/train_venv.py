"""The training install (upstream LLaVA + llava_ecg) that eval-only tests call for the llava side of a check."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # holds tests/ (a checkout, or CI's copy)


def train_python(to: str) -> str:
    """Its interpreter (``LLAVA_ECG_TRAIN_PYTHON``, else the checkout's .venv); without one the test skips, or fails
    under ``LLAVA_ECG_REQUIRE_TRAIN_VENV=1`` (CI). ``to``: what the test needs it for, for the skip message."""
    for candidate in (os.environ.get("LLAVA_ECG_TRAIN_PYTHON"), str(ROOT / ".venv" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            if subprocess.run([candidate, "-c", "import llava, llava_ecg"], capture_output=True).returncode == 0:
                return candidate
    if os.environ.get("LLAVA_ECG_REQUIRE_TRAIN_VENV") == "1":
        pytest.fail("LLAVA_ECG_REQUIRE_TRAIN_VENV=1 but no training install (set LLAVA_ECG_TRAIN_PYTHON)")
    pytest.skip(f"no training install (upstream LLaVA) to {to}: set LLAVA_ECG_TRAIN_PYTHON")
