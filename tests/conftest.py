"""Shared fixtures: the tiny offline LLaVA and an offline environment for subprocesses."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``../shared`` beside the checkout (or $LLAVA_ECG_SHARED), None when absent."""
    env = os.environ.get("LLAVA_ECG_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    return path if path.is_dir() else None


def offline_env_vars(tmp: Path) -> dict[str, str]:
    return {
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp / "hf_home"), "LMMS_EVAL_DATASETS_CACHE": str(tmp / "hf_home" / "datasets"),
        "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "WANDB_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def offline_env(tmp_path_factory) -> dict[str, str]:
    """A full environment (os.environ + offline settings) for subprocesses that run upstream code."""
    env = dict(os.environ)
    env.update(offline_env_vars(tmp_path_factory.mktemp("offline")))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    from llava_ecg.tiny import build_tiny_base

    return build_tiny_base(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from llava_ecg.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))


@pytest.fixture(scope="session")
def shared():
    path = shared_dir()
    if path is None:
        pytest.skip("../shared is absent")
    return path


@pytest.fixture(scope="session")
def mini_datasets(tmp_path_factory) -> dict[str, Path]:
    """Small fixture datasets in the exact on-disk formats (tests/support/mini_datasets.py), built once."""
    from tests.support import mini_datasets as mini

    base = tmp_path_factory.mktemp("mini")
    return {
        "ptbxl": mini.make_ptbxl(base / "ptbxl"),
        "mimic": mini.make_mimic(base / "mimic"),
        "code15": mini.make_code15(base / "code15"),
        "challenge": mini.make_challenge(base / "challenge"),
        "ecgqa": mini.make_ecgqa(base / "ecgqa"),
    }
