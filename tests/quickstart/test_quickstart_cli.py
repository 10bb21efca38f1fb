"""Bad quickstart options stop at once with one line, before any stage runs (they used to crash in stage 1)."""
from __future__ import annotations

import pytest

from llava_ecg.cli import main
from llava_ecg.quickstart import QuickstartConfig


@pytest.mark.parametrize("args", [["--train-per-class", "0"], ["--test-per-class", "0"], ["--epochs", "0"],
                                  ["--minutes", "-1"], ["--loader-workers", "-1"]])
def test_bad_options_are_one_line_errors(tmp_path, capsys, monkeypatch, args):
    monkeypatch.setenv("OMP_NUM_THREADS", __import__("os").environ.get("OMP_NUM_THREADS", "1"))  # restored after
    try:
        code = main(["quickstart", "-o", str(tmp_path / "qs"), *args])
    except SystemExit as exc:  # refused by the parser (usage, then the error line)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("llava-ecg quickstart: error: ") and "Traceback" not in err
    assert not (tmp_path / "qs").exists()


def test_max_steps_alone_is_enough():
    assert QuickstartConfig(out_dir="x", epochs=0, max_steps=3).max_steps == 3


def test_training_pages_are_drawn_beside_the_steps_where_there_are_two_cores(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert QuickstartConfig(out_dir="x").workers == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert QuickstartConfig(out_dir="x").workers == 0
    assert QuickstartConfig(out_dir="x", loader_workers=3).workers == 3
