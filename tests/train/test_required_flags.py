"""A recipe run without a model, data or output folder stops with one line naming them, before upstream falls back
to its facebook/opt-125m default (a hub download) or crashes on data_path=None."""
from __future__ import annotations

import pytest

from llava_ecg.train.recipe import RecipeError
from llava_ecg.train.run import check_required, main


def test_missing_flags_are_named(capsys):
    assert main(["tiny/cpu", "data_path=rows.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "model_name_or_path" in err and "output_dir" in err and "data_path," not in err
    assert "tiny/cpu" in err


def test_flags_count_in_every_spelling():
    check_required(["--model_name_or_path", "m", "--data_path=d.jsonl", "--output_dir", "o"], "r.yaml")
    with pytest.raises(RecipeError, match="data_path"):
        check_required(["--model_name_or_path", "m", "--output_dir", "o"], "r.yaml")
