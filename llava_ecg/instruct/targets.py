"""Table A1 as a target: per-source shares of task family x format, met to within one row per cell.

A source's rows are a sequence of *slots*; record number ``i`` of that source (counted over the full record
listing, so shards and resumed builds agree) fills slots ``i*k ... i*k+k-1`` (``k`` = samples per record).
The cell of each slot comes from a low-discrepancy sequence: slot ``t`` goes to the cell with the largest
deficit ``(t+1)*share - count``, so after any number of slots every cell holds within one row of its share.
A record therefore gets several items of one cell when the cell's share needs it (PTB-XL morphology
close-ended questions are 34 % of PTB-XL rows).

Targets are ``"pulse"`` (Table A1 of PULSE v1 per source; sources it does not list get the whole table's
shares) or a YAML/JSON file mapping ``source -> {family.format: count or share}`` (key ``"*"`` for any other
source); counts are normalised per source.
"""
from __future__ import annotations

import json
from array import array
from pathlib import Path

from llava_ecg.catalog.ecginstruct import TABLE_A1
from llava_ecg.errors import LlavaEcgError


class InstructConfigError(LlavaEcgError):
    """A target table or mix cannot be used; the message names the file and the problem."""


Cell = tuple[str, str]
ALL_SOURCES = "*"


def _whole_table() -> dict[Cell, int]:
    total: dict[Cell, int] = {}
    for counts in TABLE_A1.values():
        for cell, n in counts.items():
            total[cell] = total.get(cell, 0) + n
    return total


def normalise(counts: dict[Cell, float]) -> dict[Cell, float]:
    total = float(sum(counts.values()))
    if total <= 0:
        raise InstructConfigError("target table: a source's counts sum to zero")
    return {cell: n / total for cell, n in sorted(counts.items()) if n > 0}


def pulse_targets() -> dict[str, dict[Cell, float]]:
    table = {source: normalise(counts) for source, counts in TABLE_A1.items()}
    table[ALL_SOURCES] = normalise(_whole_table())
    return table


def _cell(key: str, where: str) -> Cell:
    family, _, fmt = str(key).partition(".")
    if not family or not fmt:
        raise InstructConfigError(f"{where}: cell {key!r} must be FAMILY.FORMAT (e.g. rhythm.mcq)")
    return family, fmt


def load_targets(path) -> dict[str, dict[Cell, float]]:
    """A target table file: ``{source: {"family.format": count_or_share}}`` as YAML or JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstructConfigError(f"{path}: cannot read the target table ({exc.strerror})") from None
    import yaml

    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InstructConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})") from None
    if not isinstance(doc, dict) or not doc:
        raise InstructConfigError(f"{path}: expected a mapping source -> {{family.format: count}}")
    from llava_ecg.catalog.sources import canonical_source

    out = {}
    for source, cells in doc.items():
        key = ALL_SOURCES if source == ALL_SOURCES else canonical_source(source)
        if not isinstance(cells, dict):
            raise InstructConfigError(f"{path}: {source}: expected a mapping family.format -> count")
        counts = {}
        for name, n in cells.items():
            if not isinstance(n, (int, float)) or isinstance(n, bool) or n < 0:
                raise InstructConfigError(f"{path}: {source}.{name}: count must be a number >= 0, got {n!r}")
            counts[_cell(name, f"{path}: {source}")] = float(n)
        out[key] = normalise(counts)
    return out


def shares_for(table: dict[str, dict[Cell, float]], source: str) -> dict[Cell, float] | None:
    return table.get(source) or table.get(ALL_SOURCES)


class Schedule:
    """The low-discrepancy cell sequence of one source; slots are generated on demand and kept (two bytes each).

    Tijdeman's chairman-assignment rule: the ``m``-th row of a cell with share ``p`` becomes due at slot
    ``(m - 1 + d) / p`` and may not come before ``(m - d) / p``, ``d = 1 - 1/(2(n-1))``; slot ``t`` goes to the
    released cell that is due first. This keeps ``|count - t*p| <= d < 1`` for every cell after every slot.
    """

    def __init__(self, shares: dict[Cell, float]):
        self.cells = sorted(shares)
        n = len(self.cells)
        self._d = 1.0 - 1.0 / (2 * (n - 1)) if n > 1 else 0.0
        self._shares = [shares[c] for c in self.cells]
        self._counts = [0] * n
        self.slots = array("H")

    def _extend(self, n: int) -> None:
        shares, counts, d, slots = self._shares, self._counts, self._d, self.slots
        cells = range(len(shares))
        while len(slots) < n:
            t = len(slots) + 1
            best, due = -1, float("inf")
            for i in cells:
                m = counts[i] + 1
                if (m - d) <= t * shares[i] + 1e-12 and (m - 1 + d) / shares[i] < due:
                    best, due = i, (m - 1 + d) / shares[i]
            if best < 0:  # unreachable by the theorem; kept total for float edge cases
                best = min(cells, key=lambda i: (counts[i] + d) / shares[i])
            counts[best] += 1
            slots.append(best)

    def share(self, cell: Cell) -> float:
        return self._shares[self.cells.index(cell)]

    def cells_for(self, ordinal: int, k: int) -> list[Cell]:
        end = (ordinal + 1) * k
        if len(self.slots) < end:
            self._extend(end)
        return [self.cells[self.slots[t]] for t in range(ordinal * k, end)]


# --- the comparison the build prints -------------------------------------------------------------------------------
def comparison(cells: dict[tuple[str, str, str], int], table: dict[str, dict[Cell, float]],
               reference: str = "Table A1") -> tuple[str, float]:
    """Markdown: per source x cell the achieved share, the target share and the deviation (percentage points);
    returns the text and the largest absolute deviation."""
    by_source: dict[str, dict[Cell, int]] = {}
    for (source, family, fmt), n in cells.items():
        by_source.setdefault(source, {})[(family, fmt)] = n
    lines = [f"| source | family | format | rows | built % | {reference} % | deviation (points) |",
             "|---|---|---|---:|---:|---:|---:|"]
    worst = 0.0
    for source in sorted(by_source):
        got = by_source[source]
        total = sum(got.values())
        target = shares_for(table, source) or {}
        label = source if source in table else f"{source} (vs all sources)"
        for cell in sorted(set(got) | set(target)):
            share = 100.0 * got.get(cell, 0) / total if total else 0.0
            want = 100.0 * target.get(cell, 0.0)
            dev = share - want
            worst = max(worst, abs(dev))
            lines.append(f"| {label} | {cell[0]} | {cell[1]} | {got.get(cell, 0)} | {share:.2f} | {want:.2f} | "
                         f"{dev:+.2f} |")
        lines.append(f"| {label} | total | | {total} | 100.00 | 100.00 | |")
    lines.append("")
    lines.append(f"largest deviation: {worst:.2f} points (each cell is within one row of its target; "
                 "a source needs >= 100 rows for +-1 point)")
    return "\n".join(lines) + "\n", worst
