"""``llava-ecg report``: a Markdown table of our scores beside the paper's PULSE-7B and GPT-4o rows, plus plots.

Plots use matplotlib (already a dependency; Agg backend, no display): per-class F1 bars for the multi-label
subsets, a confusion matrix per MCQ subset, and a radar of every subset's headline metric against the paper.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from llava_ecg.eval.results import ResultSet, load_results
from llava_ecg.catalog.subsets import MCQ, MULTILABEL, SUBSETS, get_subset

PAPER_ROWS = ("PULSE-7B", "GPT-4o")
IN_DOMAIN = ("ptb-test", "ptb-test-report", "code15-test", "ecgqa-test")
OUT_OF_DOMAIN = ("cpsc-test", "csn-test-no-cot", "g12-test-no-cot", "mmmu-ecg", "arena")
_METRIC_TITLE = {"auc": "AUC", "f1": "F1", "hl": "HL↓", "acc": "Acc", "score": "Score"}


def headline(subset_name: str) -> str:
    """The metric the radar and the ablation tables use: F1 for multi-label subsets, else the only metric."""
    subset = get_subset(subset_name)
    return "f1" if subset.kind == MULTILABEL else subset.metrics[0]


def _fmt(value, ci=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.1f}"
    if ci and all(isinstance(c, (int, float)) and not math.isnan(c) for c in ci):
        text += f" [{ci[0]:.1f}, {ci[1]:.1f}]"
    return text


def _runs(results: Sequence[ResultSet]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for r in results:
        seen.setdefault((r.run, r.mode), None)
    return list(seen)


def _table(title: str, subsets: Sequence[str], results: Sequence[ResultSet], *, with_ci: bool) -> list[str]:
    cols = [(s, m) for s in subsets for m in SUBSETS[s].metrics]
    header = ["Model"] + [f"{SUBSETS[s].title} {_METRIC_TITLE[m]}" for s, m in cols]
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * len(cols)]
    index = {(r.run, r.mode, r.subset): r for r in results}
    for run, mode in _runs(results):
        cells = []
        for s, m in cols:
            r = index.get((run, mode, s))
            cells.append(_fmt(r.metrics.get(m), r.metrics.get(f"{m}_ci95") if with_ci else None) if r else "–")
        lines.append(f"| {run} ({mode}) | " + " | ".join(cells) + " |")
    for model in PAPER_ROWS:
        cells = [_fmt(SUBSETS[s].paper.get(model, {}).get(m)) for s, m in cols]
        lines.append(f"| {model} (paper v1) | " + " | ".join(cells) + " |")
    return lines + [""]


def _details(results: Sequence[ResultSet]) -> list[str]:
    lines = ["## Details", "", "| Subset | Run | Mode | n | Unparseable | Random guesses | Judge failures | Judge | Source |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        m = r.metrics
        lines.append(
            f"| {r.subset} | {r.run} | {r.mode} | {_int(m.get('n'))} | {_int(m.get('unparseable'))} | "
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


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *, plots: bool = True) -> Path:
    """Write ``report.md`` (and PNGs) into ``out_dir`` (default: ``results_dir``); return the Markdown path."""
    from llava_ecg.eval.errors import EvalInputError
    from llava_ecg.eval.results import write_text_atomic

    results = load_results(results_dir)
    if not results:
        raise EvalInputError(f"{results_dir}: no score files (llava-ecg score -o ...) or lmms-eval results found")
    out = Path(out_dir or results_dir)
    out.mkdir(parents=True, exist_ok=True)
    with_ci = any(any(k.endswith("_ci95") for k in r.metrics) for r in results)
    lines = [
        "# ECGBench results", "",
        "Ours: metrics ×100 with bootstrap 95 % intervals where computed. Paper rows: PULSE v1 Tables 3–4 "
        "(`pulse` semantics, GPT-4o judge for report/arena). Compare `pulse`-mode rows with the paper; see "
        "docs/scoring.md for what `strict` changes.", "",
    ]
    lines += _table("In-domain (paper Table 3)", IN_DOMAIN, results, with_ci=with_ci)
    lines += _table("Out-of-domain (paper Table 4)", OUT_OF_DOMAIN, results, with_ci=with_ci)
    lines += _details(results)
    if plots:
        images = _plots(results, out)
        if images:
            lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in images] + [""]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path


def _plots(results: Sequence[ResultSet], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    paths = []
    for r in results:
        subset = get_subset(r.subset)
        if subset.kind == MULTILABEL and r.per_class:
            paths.append(_f1_bars(plt, r, out / f"f1_{_slug(r.subset, r.run, r.mode)}.png"))
        if subset.kind == MCQ and r.confusion:
            paths.append(_confusion(plt, r, subset.letters, out / f"confusion_{_slug(r.subset, r.run, r.mode)}.png"))
    paths.append(_radar(plt, results, out / "radar.png"))
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


def _radar(plt, results: Sequence[ResultSet], path: Path) -> Path:
    import numpy as np

    names = list(IN_DOMAIN + OUT_OF_DOMAIN)
    angles = np.linspace(0, 2 * np.pi, len(names), endpoint=False).tolist()
    fig = plt.figure(figsize=(6, 6))
    ax = fig.add_subplot(polar=True)
    series: list[tuple[str, list[float], str]] = []
    for run, mode in _runs(results):
        values = []
        for name in names:
            match = [r for r in results if r.run == run and r.mode == mode and r.subset == name]
            v = match[0].metrics.get(headline(name)) if match else None
            values.append(float("nan") if v is None else float(v))
        series.append((f"{run} ({mode})", values, "-"))
    for model in PAPER_ROWS:
        series.append((f"{model} (paper)", [float(SUBSETS[n].paper.get(model, {}).get(headline(n), float("nan")))
                                             for n in names], "--"))
    for label, values, style in series:
        ax.plot(angles + angles[:1], values + values[:1], style, marker="o", markersize=3, label=label)
    ax.set_xticks(angles, [f"{SUBSETS[n].title}\n{_METRIC_TITLE[headline(n)]}" for n in names], fontsize=7)
    ax.set_ylim(0, 100)
    ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=7)
    ax.set_title("ECGBench headline metrics vs paper v1", fontsize=10)
    return _save(plt, fig, path)
