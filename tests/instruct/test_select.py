"""``llava-ecg select``: the Table 5/6 training sets of an ECGInstruct-shaped file, in one streaming pass, with
sources recognised from the ``source`` field or, without it, from ids, image folders and ECG-QA's option line."""
from __future__ import annotations

import json

import pytest

from llava_ecg.instruct import io as rio
from llava_ecg.instruct.select import ABLATIONS, SOURCE_LETTERS, TASK_LETTERS, SelectError, row_source, select
from llava_ecg.instruct.select import ablation_selections
from tests.support.ecginstruct_shaped import write_shaped


def _expected(counts, sources: str, tasks: str) -> int:
    names = {SOURCE_LETTERS[c] for c in sources}
    families = {TASK_LETTERS[c] for c in tasks}
    return sum(n for (s, f, _t), n in counts.items() if s in names and f in families)


@pytest.mark.parametrize("with_source", [True, False])
def test_ablation_sets_have_exactly_the_right_rows(tmp_path, with_source):
    src = tmp_path / "ECGInstruct.json"
    counts = write_shaped(src, 3000, with_source=with_source)
    selections = ablation_selections("table5") + ablation_selections("table6")
    info = select(src, selections, tmp_path / "out", progress=False)
    for table, rows in ABLATIONS.items():
        for row, (sources, tasks) in rows.items():
            name = f"{table}-{row.replace('+', '')}"
            rows_out = list(rio.iter_json_array(info["files"][name]))
            assert len(rows_out) == info["written"][name] == _expected(counts, sources, tasks), name
            allowed = {SOURCE_LETTERS[c] for c in sources}
            assert all(row_source(r) in allowed and r["metadata"]["subtask"] in
                       {TASK_LETTERS[c] for c in tasks} for r in rows_out[:200])
    assert info["written"]["table5-PMCE"] == info["written"]["table6-FRMC"] == sum(counts.values())


def test_cli_custom_selection_and_errors(tmp_path, capsys):
    from llava_ecg.cli import main

    src = tmp_path / "rows.json"
    counts = write_shaped(src, 600)
    out = tmp_path / "out"
    args = ["select", str(src), "-o", str(out), "--sources", "M", "--tasks", "R", "--formats", "multiple-choice",
            "--name", "mimic-rhythm-mcq", "--no-progress"]
    assert main(args) == 0
    rows = json.loads((out / "mimic-rhythm-mcq.json").read_text())
    assert len(rows) == counts[("MIMIC-IV-ECG", "rhythm", "multiple-choice")] > 0
    assert "mimic-rhythm-mcq: " in capsys.readouterr().out
    assert main(args[:4] + ["--sources", "X"]) != 0
    assert "PMCE" in capsys.readouterr().err
    with pytest.raises(SelectError, match="no such file"):
        select(tmp_path / "missing.json", ablation_selections("table5"), out, progress=False)
