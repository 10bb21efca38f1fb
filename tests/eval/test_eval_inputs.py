"""`llava-ecg eval` names a mistyped checkpoint or data folder at once instead of starting lmms-eval."""
from __future__ import annotations

import pytest

from llava_ecg.cli import main


@pytest.mark.parametrize("extra, named", [
    ([], "does-not-exist"),
    (["--model-base", "no_such_base"], "no_such_base"),
    (["--ecgbench-root", "no_such_bench"], "no_such_bench"),
])
def test_missing_local_paths_stop_before_lmms_eval(tmp_path, monkeypatch, capsys, extra, named):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    model = "does-not-exist" if named == "does-not-exist" else "ckpt"
    assert main(["eval", model, "--tasks", "ecgbench_g12", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llava-ecg eval: error: ") and named in err
    assert not (tmp_path / "eval_results").exists()  # nothing was started


def test_hub_ids_are_left_to_the_loader():
    from argparse import Namespace

    from llava_ecg.eval.lmms.commands import input_problem

    args = Namespace(model_path="PULSE-ECG/PULSE-7B", model_base="liuhaotian/llava-v1.6-vicuna-7b",
                     ecgbench_root=None)
    assert input_problem(args) is None
