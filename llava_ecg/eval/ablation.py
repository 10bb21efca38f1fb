"""Ablation tables in PULSE's layout (Tables 5-6): one headline metric per benchmark, and an AVG column printed
as the difference from the full model's average for every other row (the paper's convention; the full model's
own AVG is absolute).

Headline metrics follow the paper: F1 for the multi-label subsets, the score for report/arena, accuracy
elsewhere. Training sets for each row come from ``llava-ecg select --ablation table5|table6``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from llava_ecg.catalog.ecginstruct import ABLATION_COLUMNS as COLUMNS
from llava_ecg.catalog.ecginstruct import ABLATION_PAPER as PAPER
from llava_ecg.catalog.ecginstruct import ABLATION_TITLES as TITLES
from llava_ecg.eval.errors import EvalInputError
from llava_ecg.eval.results import ResultSet

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
