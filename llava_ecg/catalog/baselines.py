"""The paper's ECGBench rows (PULSE v1 Tables 3-4) as data: ``pulse_v1_baselines.csv``, source in its header.

Every model of both tables (PULSE-7B, GPT-4o, GPT-4o mini, Gemini 1.5 Pro, Claude 3.5 Sonnet, LLaVA-Med, the
LLaVA/Qwen/InternVL families, the ECG-specific methods, Random), one column per ``<subset>:<metric>``. Cells keep
the table's marks ('65.7†', '69.5*', 'N/A', '–'); :attr:`PaperRow.values` has the numbers only.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from llava_ecg.errors import LlavaEcgError

DATA = Path(__file__).with_name("pulse_v1_baselines.csv")
SOURCE = "PULSE, arXiv 2410.19008 v1, Tables 3-4"
#: PULSE-7B's report score by criterion (paper v1, Fig 4; the table has only the overall 61.3).
PULSE_REPORT_CRITERIA = {"diagnosis": 47.7, "waveform": 50.4, "rhythm": 85.7}
#: Shown by ``llava-ecg report`` unless ``--paper-rows`` says otherwise.
DEFAULT_ROWS = ("PULSE-7B", "GPT-4o", "GPT-4o mini", "Gemini 1.5 Pro", "Claude 3.5 Sonnet", "LLaVA-Med",
                "LLaVA-1.6-Vicuna-7B", "Qwen2-VL-72B", "InternVL2-Llama3-76B", "Random")


class UnknownBaselineError(LlavaEcgError):
    """A model name that is not a row of the paper's tables."""


@dataclass(frozen=True)
class PaperRow:
    model: str
    cells: dict[tuple[str, str], str] = field(default_factory=dict)  # (subset, metric) -> text as printed

    @property
    def values(self) -> dict[tuple[str, str], float]:
        out = {}
        for key, text in self.cells.items():
            match = re.match(r"^\s*(-?\d+(?:\.\d+)?)", text)
            if match:
                out[key] = float(match.group(1))
        return out

    def cell(self, subset: str, metric: str) -> str:
        return self.cells.get((subset, metric), "–")


@lru_cache(maxsize=1)
def paper_rows() -> dict[str, PaperRow]:
    """Every row of the two tables, by model name, in the paper's order."""
    lines = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = {}
    for record in csv.DictReader(lines):
        model = record.pop("model")
        rows[model] = PaperRow(model, {tuple(k.split(":", 1)): v for k, v in record.items()})
    return rows


def subset_numbers(subset: str) -> dict[str, dict[str, float]]:
    """``{model: {metric: value}}`` for one ECGBench config (what ``Subset.paper`` returns)."""
    out: dict[str, dict[str, float]] = {}
    for row in paper_rows().values():
        values = {metric: v for (name, metric), v in row.values.items() if name == subset}
        if values:
            out[row.model] = values
    if subset == "ptb-test-report" and "PULSE-7B" in out:
        out["PULSE-7B"].update(PULSE_REPORT_CRITERIA)
    return out


def select(names: str | None = None) -> list[PaperRow]:
    """``None``/``"default"``: :data:`DEFAULT_ROWS`; ``"all"``; ``"none"``; or comma-separated model names."""
    rows = paper_rows()
    if names is None or names.strip().lower() == "default":
        return [rows[m] for m in DEFAULT_ROWS]
    if names.strip().lower() == "all":
        return list(rows.values())
    if names.strip().lower() == "none":
        return []
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    lower = {m.lower(): m for m in rows}
    unknown = [n for n in wanted if n.lower() not in lower]
    if unknown:
        raise UnknownBaselineError(f"--paper-rows: unknown model(s) {', '.join(unknown)}; known: {', '.join(rows)}")
    return [rows[lower[n.lower()]] for n in wanted]
