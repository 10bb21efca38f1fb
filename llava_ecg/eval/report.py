"""``llava-ecg report``: every evaluated model's numbers beside the paper's rows, in one table and one plot.

The main table puts each run's ``pulse``-mode metrics (the authors' semantics, comparable with the paper) beside the
paper's rows (:mod:`llava_ecg.catalog.baselines`, PULSE v1 Tables 3-4: PULSE-7B, GPT-4o, GPT-4o mini, Gemini 1.5 Pro,
Claude 3.5 Sonnet, LLaVA-Med, ... — ``--paper-rows`` picks them); a second table has the runs' ``strict`` metrics with
bootstrap intervals. ``paper_comparison.png`` draws each subset's headline metric as grouped bars for all of them.
Several runs and models at once: every score file and lmms-eval results file under the folder is one run; a run
scored both ways (its lmms-eval results and ``llava-ecg score -o`` on its sample log) is listed once
(:func:`llava_ecg.eval.results.load_results`). Plots use matplotlib (Agg backend, no display); per-class F1 bars and
MCQ confusion matrices come with them.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from llava_ecg.catalog.baselines import SOURCE, PaperRow, select
from llava_ecg.eval.results import ResultSet, load_results
from llava_ecg.catalog.subsets import ARENA, MCQ, MULTILABEL, REPORT, SUBSETS, get_subset

IN_DOMAIN = ("ptb-test", "ptb-test-report", "code15-test", "ecgqa-test")
OUT_OF_DOMAIN = ("cpsc-test", "csn-test-no-cot", "g12-test-no-cot", "mmmu-ecg", "arena")
_METRIC_TITLE = {"auc": "AUC", "f1": "F1", "hl": "HL↓", "acc": "Acc", "score": "Score"}


def headline(subset_name: str) -> str:
    """The metric the plot and the ablation tables use: F1 for multi-label subsets, else the only metric."""
    subset = get_subset(subset_name)
    return "f1" if subset.kind == MULTILABEL else subset.metrics[0]


def _fmt(value, ci=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.1f}"
    if ci and all(isinstance(c, (int, float)) and not math.isnan(c) for c in ci):
        text += f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    return text


def _runs(results: Sequence[ResultSet]) -> list[str]:
    return list(dict.fromkeys(r.run for r in results))


def _columns() -> list[tuple[str, str]]:
    return [(s, m) for s in IN_DOMAIN + OUT_OF_DOMAIN for m in SUBSETS[s].metrics]


def _header(cols) -> list[str]:
    header = ["Model"] + [f"{SUBSETS[s].title} {_METRIC_TITLE[m]}" for s, m in cols]
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(cols)]


def _value(index, run: str, mode: str, subset: str) -> ResultSet | None:
    """A run's result in ``mode``; judged subsets are the same in both modes, so either file serves."""
    found = index.get((run, mode, subset))
    if found is None and get_subset(subset).kind in (REPORT, ARENA):
        found = index.get((run, "strict" if mode == "pulse" else "pulse", subset))
    return found


def _table(results: Sequence[ResultSet], paper: Sequence[PaperRow], *, mode: str, with_ci: bool) -> list[str]:
    cols = _columns()
    index = {(r.run, r.mode, r.subset): r for r in results}
    lines = _header(cols)
    for run in _runs(results):
        found = [_value(index, run, mode, s) for s, _ in cols]
        if not any(found):
            continue
        cells = [_fmt(r.metrics.get(m), r.metrics.get(f"{m}_ci95") if with_ci else None) if r else "–"
                 for r, (_, m) in zip(found, cols)]
        partial = any(_partial(r, s) for r, (s, _) in zip(found, cols))
        lines.append(f"| {run} ({mode}){' **partial**' if partial else ''} | " + " | ".join(cells) + " |")
        lines.append(_n_row(found, cols))
    if paper:
        lines.append("| (paper: n) | " + " | ".join(_n_text(SUBSETS[s].n_paper, None) if i == _first(cols, s) else ""
                                                 for i, (s, _) in enumerate(cols)) + " |")
    for row in paper:
        lines.append(f"| {row.model} (paper v1) | " + " | ".join(row.cell(s, m) for s, m in cols) + " |")
    return lines + [""]


def _items(r: ResultSet | None) -> int | None:
    n = r.metrics.get("n") if r is not None else None
    return int(n) if isinstance(n, (int, float)) and not (isinstance(n, float) and math.isnan(n)) else None


def _partial(r: ResultSet | None, subset: str) -> bool:
    """Fewer items than the paper's full test set of ``subset`` (a --limit run, a sample, a custom set)."""
    n, full = _items(r), SUBSETS[subset].n_paper
    return n is not None and full is not None and n < full


def _n_text(n: int | None, full: int | None) -> str:
    if n is None:
        return "–"
    return f"{n:,} of {full:,} ⚠" if full is not None and n < full else f"{n:,}"


def _first(cols, subset: str) -> int:
    return next(i for i, (s, _) in enumerate(cols) if s == subset)


def _n_row(found, cols) -> str:
    """Items per subset under a run's row (first metric column of each subset); ⚠ marks fewer than the full set."""
    cells = [_n_text(_items(r), SUBSETS[s].n_paper) if r is not None and i == _first(cols, s) else ""
             for i, (r, (s, _)) in enumerate(zip(found, cols))]
    return "| ↳ n | " + " | ".join(cells) + " |"


def _details(results: Sequence[ResultSet]) -> list[str]:
    lines = ["## Details", "",
             "| Subset | Run | Mode | Template | n | Unparseable | Random guesses | Judge failures | Judge | Source |",
             "|---|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        m = r.metrics
        lines.append(
            f"| {r.subset} | {r.run} | {r.mode} | {r.template or '–'} | {_int(m.get('n'))} | {_int(m.get('unparseable'))} | "
            f"{_int(m.get('random_guesses'))} | {_int(m.get('failed'))} | {m.get('judge_model', '') or ''} | "
            f"{Path(r.source).name} |"
        )
    return lines + [""]


def _int(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(int(value))


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p).strip("-") for p in parts)


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *, plots: bool = True,
                 paper_rows: str | None = None) -> Path:
    """Write ``report.md`` (and PNGs) into ``out_dir`` (default: ``results_dir``); return the Markdown path.

    ``paper_rows``: which of the paper's models to show (:func:`llava_ecg.catalog.baselines.select`)."""
    from llava_ecg.eval.errors import EvalInputError
    from llava_ecg.eval.results import write_text_atomic

    paper = select(paper_rows)
    results = load_results(results_dir)
    if not results:
        raise EvalInputError(f"{results_dir}: no score files (llava-ecg score -o ...) or lmms-eval results found")
    out = Path(out_dir or results_dir)
    out.mkdir(parents=True, exist_ok=True)
    with_ci = any(any(k.endswith("_ci95") for k in r.metrics) for r in results)
    lines = [
        "# ECGBench results", "",
        f"Metrics ×100 (HL: lower is better). Paper rows: {SOURCE} (AUC on hard labels; GPT-4o judge for report "
        "and arena; '†' copied by the authors, '*' from the method's online software). Our runs in `pulse` mode use "
        "the authors' scoring semantics and compare with them; `strict` mode (below, with bootstrap 95 % "
        "intervals) is our corrected scoring, see docs/scoring.md. The `↳ n` row under each run gives its items per "
        "subset; '⚠' and **partial** mark runs on fewer items than the paper's full test set, which are not "
        "comparable with the paper's rows.", "",
        "## Beside the paper (pulse semantics)", "",
    ]
    lines += _table(results, paper, mode="pulse", with_ci=False)
    lines += ["## Strict mode (ours)", ""]
    lines += _table(results, [], mode="strict", with_ci=with_ci)
    lines += _details(results)
    if plots:
        images = _plots(results, paper, out)
        if images:
            lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in images] + [""]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path


def _plots(results: Sequence[ResultSet], paper: Sequence[PaperRow], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    paths = [_comparison(plt, results, paper, out / "paper_comparison.png")]
    for r in results:
        subset = get_subset(r.subset)
        if subset.kind == MULTILABEL and r.per_class:
            paths.append(_f1_bars(plt, r, out / f"f1_{_slug(r.subset, r.run, r.mode)}.png"))
        if subset.kind == MCQ and r.confusion:
            paths.append(_confusion(plt, r, subset.letters, out / f"confusion_{_slug(r.subset, r.run, r.mode)}.png"))
    return paths


def _save(plt, fig, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def _f1_bars(plt, r: ResultSet, path: Path) -> Path:
    rows = [c for c in r.per_class if c.get("f1") is not None]
    labels = [str(c["label"]) for c in rows]
    values = [float("nan") if c["f1"] is None else float(c["f1"]) for c in rows]
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(labels) + 2), 3.2))
    bars = ax.bar(labels, [0 if math.isnan(v) else v for v in values], color="#4477aa")
    for bar, c, v in zip(bars, rows, values):
        ax.annotate(f"n={c.get('support', '?')}" if not math.isnan(v) else "n/a", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 105)
    ax.set_ylabel("F1 (×100)")
    ax.set_title(f"{get_subset(r.subset).title} per-class F1 — {r.run} ({r.mode})", fontsize=9)
    return _save(plt, fig, path)


def _confusion(plt, r: ResultSet, letters: Sequence[str], path: Path) -> Path:
    import numpy as np

    cols = list(letters) + (["none"] if any("none" in row for row in r.confusion.values()) else [])
    matrix = np.array([[r.confusion.get(g, {}).get(p, 0) for p in cols] for g in letters], dtype=float)
    fig, ax = plt.subplots(figsize=(0.5 * len(cols) + 2, 0.5 * len(letters) + 1.6))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(letters)), letters)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(letters)):
        for j in range(len(cols)):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title(f"{get_subset(r.subset).title} — {r.run} ({r.mode})", fontsize=9)
    return _save(plt, fig, path)


def _comparison(plt, results: Sequence[ResultSet], paper: Sequence[PaperRow], path: Path) -> Path:
    """Grouped bars: one group per subset (its headline metric), one bar per run (pulse mode) and paper row."""
    import numpy as np

    names = list(IN_DOMAIN + OUT_OF_DOMAIN)
    index = {(r.run, r.mode, r.subset): r for r in results}
    series: list[tuple[str, list[float], bool]] = []
    for run in _runs(results):
        found = [_value(index, run, "pulse", n) for n in names]
        if any(found):
            series.append((f"{run} (pulse)", [float(r.metrics.get(headline(n), math.nan)) if r else math.nan
                                              for r, n in zip(found, names)], True))
    for row in paper:
        values = row.values
        series.append((f"{row.model} (paper)", [values.get((n, headline(n)), math.nan) for n in names], False))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(series) * len(names)), 4.2))
    x = np.arange(len(names))
    colours = plt.get_cmap("tab20")
    for k, (label, values, ours) in enumerate(series):
        heights = [0 if math.isnan(v) else v for v in values]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, label=label, color=colours(k % 20),
               edgecolor="black" if ours else "none", linewidth=0.8 if ours else 0, hatch="//" if ours else None)
    ax.set_xticks(x, [f"{SUBSETS[n].title}\n{_METRIC_TITLE[headline(n)]}" for n in names], fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("×100 (pulse semantics)")
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("ECGBench headline metrics: evaluated models (hatched) beside PULSE v1 Tables 3-4", fontsize=9)
    return _save(plt, fig, path)
