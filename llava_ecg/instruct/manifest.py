"""Build summaries: counts per source x task family x format, laid out like PULSE's Table A1.

Written as CSV (machine-readable), Markdown (for a README or a PR) and a PNG bar chart (matplotlib, Agg
backend, imported only when the chart is drawn).
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Iterable

from . import io as rio
from llava_ecg.catalog.labels import FAMILIES
from .engine import FORMATS

COLUMNS = tuple(FORMATS)  # close, open, fill, mcq, multi


def count_cells(manifest_rows: Iterable[dict], *, source_key: str = "source", family_key: str = "family",
                format_key: str = "format") -> Counter:
    return Counter((r[source_key], r[family_key], r[format_key]) for r in manifest_rows)


def summary_table(counts: Counter) -> list[list]:
    """Rows ``[source, family, close, open, fill, mcq, multi, sum]`` plus per-source and grand totals."""
    table = []
    sources = sorted({s for s, _f, _t in counts})
    families = [f for f in FAMILIES if any(k[1] == f for k in counts)]
    families += sorted({f for _s, f, _t in counts} - set(families))
    formats = list(COLUMNS) + sorted({t for _s, _f, t in counts} - set(COLUMNS))
    grand = 0
    for source in sources:
        total = 0
        for family in families:
            cells = [counts.get((source, family, fmt), 0) for fmt in formats]
            if sum(cells):
                table.append([source, family, *cells, sum(cells)])
                total += sum(cells)
        table.append([source, "total", *[""] * len(formats), total])
        grand += total
    table.append(["all", "total", *[""] * len(formats), grand])
    return [["source", "family", *formats, "sum"], *table]


def _markdown(table: list[list]) -> str:
    head, *body = table
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head)]
    for row in body:
        lines.append("| " + " | ".join("–" if c == 0 else str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def write_summary(counts: Counter, out_dir, *, stem: str = "summary", chart: bool = True) -> dict[str, Path]:
    """``counts``: (source, family, format) -> rows, e.g. from :func:`count_cells`."""
    table = summary_table(counts)
    out = Path(out_dir)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table)
    files = {"summary_csv": out / f"{stem}.csv", "summary_md": out / f"{stem}.md"}
    with rio.atomic_open(files["summary_csv"]) as fh:
        fh.write(buf.getvalue())
    with rio.atomic_open(files["summary_md"]) as fh:
        fh.write(_markdown(table))
    if chart and counts:
        files["summary_png"] = out / f"{stem}.png"
        bar_chart(counts, files["summary_png"])
    return files


def bar_chart(counts: Counter, path) -> None:
    """Stacked bars: one group per source, one bar per family, stacked by format."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sources = sorted({s for s, _f, _t in counts})
    families = [f for f in FAMILIES if any(k[1] == f for k in counts)]
    formats = [t for t in COLUMNS if any(k[2] == t for k in counts)]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(sources) * max(1, len(families)) / 2), 4.5), dpi=100)
    width = 0.8 / max(1, len(families))
    colours = plt.get_cmap("tab10")
    for fi, family in enumerate(families):
        bottoms = [0] * len(sources)
        for ti, fmt in enumerate(formats):
            heights = [counts.get((s, family, fmt), 0) for s in sources]
            xs = [si + (fi - (len(families) - 1) / 2) * width for si in range(len(sources))]
            ax.bar(xs, heights, width * 0.95, bottom=bottoms, color=colours(ti),
                   label=FORMATS[fmt] if fi == 0 else None, edgecolor="white", linewidth=0.5)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        for si, total in enumerate(bottoms):
            if total:
                ax.text(si + (fi - (len(families) - 1) / 2) * width, total, f" {family}", ha="center",
                        va="bottom", fontsize=7, rotation=90)
    ax.margins(y=0.35)  # room for the (rotated) family labels above the bars, "morphology" included
    ax.set_xticks(range(len(sources)), sources)
    ax.set_ylabel("samples")
    ax.set_title("Samples per source x task family (stacked by format)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    with rio.atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png")
    plt.close(fig)
