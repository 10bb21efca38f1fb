import os
from pathlib import Path

import pytest

from tests.support import mini_datasets as mini


def shared_dir() -> Path | None:
    env = os.environ.get("LLAVA_ECG_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / ".." / "shared")
    for c in candidates:
        if (c / "realdata").is_dir():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def realdata() -> Path:
    shared = shared_dir()
    if shared is None:
        pytest.skip("../shared/realdata not present")
    return shared / "realdata"


@pytest.fixture(scope="session")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("mini")
    return {
        "ptbxl": mini.make_ptbxl(base / "ptbxl"),
        "mimic": mini.make_mimic(base / "mimic"),
        "code15": mini.make_code15(base / "code15"),
        "challenge": mini.make_challenge(base / "challenge"),
        "ecgqa": mini.make_ecgqa(base / "ecgqa"),
    }
