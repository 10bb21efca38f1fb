"""Ablation tables: the paper's AVG convention reproduces the AVG column PULSE prints in Tables 5 and 6, and our
runs are laid out the same way (full run absolute, the others as differences)."""
from __future__ import annotations

import re

import pytest

from llava_ecg.eval.ablation import COLUMNS, ablation_table
from llava_ecg.eval.report import headline
from llava_ecg.eval.results import ResultSet

PRINTED = {"table5": {"P": "-20.6", "P+M": "-8.6", "P+M+C": "-4.1", "P+M+C+E (PULSE)": "68.1"},
           "table6": {"F": "-42.5", "F+R": "-15.9", "F+R+M": "-5.7", "F+R+M+C (PULSE)": "68.1"}}


@pytest.mark.parametrize("table", sorted(PRINTED))
def test_paper_rows_reproduce_the_printed_avg(table):
    text = ablation_table([], table)
    for row, avg in PRINTED[table].items():
        line = next(x for x in text.splitlines() if x.startswith(f"| {row} (paper v1) |"))
        assert line.split("|")[-2].strip().startswith(avg.replace("-", "-")), line


def _runs(values: dict[str, float]) -> list[ResultSet]:
    return [ResultSet(subset=s, run=run, mode="pulse", metrics={headline(s): v})
            for run, v in values.items() for s in COLUMNS]


def test_our_runs_use_the_same_convention():
    text = ablation_table(_runs({"full": 60.0, "ptb-only": 50.0}), "table5")
    full = next(x for x in text.splitlines() if x.startswith("| full (pulse) |"))
    part = next(x for x in text.splitlines() if x.startswith("| ptb-only (pulse) |"))
    assert full.split("|")[-2].strip() == "60.0"
    assert part.split("|")[-2].strip() == "-10.0 (50.0)"
    assert re.search(r"\| ptb-only \(pulse\) \| 50\.0 \|", text)
    text = ablation_table(_runs({"full": 60.0, "ptb-only": 50.0}), "table5", full_run="ptb-only")
    assert "| +10.0 (60.0) |" in text
    with pytest.raises(ValueError, match="no such run"):
        ablation_table(_runs({"full": 60.0}), "table6", full_run="nope")
