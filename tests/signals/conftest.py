from pathlib import Path

import pytest

from tests.conftest import shared_dir


@pytest.fixture(scope="session")
def realdata() -> Path:
    shared = shared_dir()
    if shared is None or not (shared / "realdata").is_dir():
        pytest.skip("../shared/realdata not present")
    return shared / "realdata"


@pytest.fixture(scope="session")
def datasets(mini_datasets):
    return mini_datasets
