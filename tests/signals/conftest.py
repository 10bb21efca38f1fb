import os
from pathlib import Path

import pytest



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
def datasets(mini_datasets):
    return mini_datasets
