"""Ablation tables in PULSE's layout (Tables 5-6): one headline metric per benchmark, and an AVG column printed
as the difference from the full model's average for every other row (the paper's convention; the full model's
own AVG is absolute).

Headline metrics follow the paper: F1 for the multi-label subsets, the score for report/arena, accuracy
elsewhere. Training sets for each row come from ``llava-ecg select --ablation table5|table6``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from llava_ecg.eval.errors import EvalInputError
from llava_ecg.eval.results import ResultSet

COLUMNS = ("ptb-test", "ptb-test-report", "csn-test-no-cot", "code15-test", "ecgqa-test", "cpsc-test",
           "g12-test-no-cot", "mmmu-ecg", "arena")
TITLES = ("PTB F1", "Report", "CSN", "CODE F1", "ECG-QA", "CPSC F1", "G12", "MMMU", "Arena")
FULL = "P+M+C+E (PULSE)"
# PULSE v1 Table 5 (data sources) and Table 6 (task families), headline metric per column in COLUMNS order
PAPER = {
    "table5": {"P": (68.2, 56.7, 82.8, 31.5, 31.8, 23.4, 65.4, 40.0, 28.4),
               "P+M": (74.1, 62.4, 88.7, 48.5, 35.8, 52.4, 78.8, 58.5, 37.0),
               "P+M+C": (74.1, 63.8, 87.5, 85.8, 43.4, 51.0, 75.5, 55.5, 39.4),
               FULL: (74.8, 61.3, 85.2, 85.4, 73.8, 57.6, 78.2, 58.0, 38.9)},
    "table6": {"F": (12.3, 36.0, 56.6, 11.2, 54.8, 2.5, 11.2, 34.0, 12.4),
               "F+R": (26.9, 54.0, 83.8, 73.3, 61.4, 31.0, 67.3, 47.5, 25.3),
               "F+R+M": (70.4, 57.6, 85.2, 82.7, 68.6, 43.8, 71.0, 52.5, 30.4),
               "F+R+M+C (PULSE)": (74.8, 61.3, 85.2, 85.4, 73.8, 57.6, 78.2, 58.0, 38.9)},
}


def _headline(subset: str) -> str:
    from llava_ecg.eval.report import headline

    return headline(subset)


def _avg(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if len(present) == len(values) else None


def _rows_of(results: Sequence[ResultSet]) -> dict[str, list[float | None]]:
    index = {(r.run, r.mode, r.subset): r for r in results}
    runs = list(dict.fromkeys((r.run, r.mode) for r in results))
    out = {}
    for run, mode in runs:
        values = []
        for subset in COLUMNS:
            r = index.get((run, mode, subset))
            v = r.metrics.get(_headline(subset)) if r else None
            values.append(float(v) if isinstance(v, (int, float)) else None)
        out[f"{run} ({mode})"] = values
    return out


def _lines(rows: dict[str, Sequence[float | None]], full: str | None) -> list[str]:
    full_avg = _avg(rows[full]) if full in rows else None
    lines = []
    for name, values in rows.items():
        avg = _avg(values)
        if avg is None:
            avg_text = "–"
        elif name == full or full_avg is None:
            avg_text = f"{avg:.1f}"
        else:
            avg_text = f"{avg - full_avg:+.1f} ({avg:.1f})"
        cells = ["–" if v is None else f"{v:.1f}" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {avg_text} |")
    return lines


def ablation_table(results: Sequence[ResultSet], table: str, *, full_run: str | None = None) -> str:
    """Markdown: our runs (AVG relative to ``full_run``, default the run with the highest average) above the
    paper's rows of ``table`` (``table5`` or ``table6``)."""
    if table not in PAPER:
        raise EvalInputError(f"unknown ablation table {table!r}; known: {', '.join(PAPER)}")
    ours = _rows_of(results)
    if full_run is not None:
        matches = [name for name in ours if name == full_run or name.startswith(f"{full_run} (")]
        if not matches:
            raise EvalInputError(f"--ablation-full {full_run!r}: no such run; runs: {', '.join(ours) or 'none'}")
        full = matches[0]
    else:
        scored = {name: _avg(v) for name, v in ours.items() if _avg(v) is not None}
        full = max(scored, key=scored.get) if scored else None
    paper = dict(PAPER[table])
    paper_full = next(name for name in paper if "PULSE" in name)
    head = "| Training data | " + " | ".join(TITLES) + " | AVG |"
    lines = [f"## Ablation ({'Table 5: data sources' if table == 'table5' else 'Table 6: task families'})", "",
             "AVG: the full model's average; other rows: difference from it (the paper's convention), absolute "
             "in parentheses. Paper rows: PULSE v1, `pulse` scoring.", "", head, "|---|" + "---:|" * 10]
    lines += _lines(ours, full)
    lines += _lines({f"{k} (paper v1)": v for k, v in paper.items()}, f"{paper_full} (paper v1)")
    return "\n".join(lines) + "\n"
