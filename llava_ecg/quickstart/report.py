"""``DIR/report.md`` and its plots: accuracy before vs after training, chance, per-class F1, loss, confusion.

The numbers are recomputed from lmms-eval's own sample logs with :func:`llava_ecg.eval.score` — the same path as
``llava-ecg score`` — and cross-checked against the accuracy lmms-eval aggregated itself.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from llava_ecg import atomic
from llava_ecg.checkpoint import recorded_conv_template
from llava_ecg.errors import RunFailed
from llava_ecg.catalog.subsets import RHYTHM_MCQ_OPTIONS
from llava_ecg.instruct.engine import LETTERS

from .config import SUBSET, TASK, QuickstartConfig

CLASS_NAMES = [name for name, _ in RHYTHM_MCQ_OPTIONS]


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{folder}: no {pattern} (did lmms-eval run?)")
    return found[-1]


def scores_for(results_dir: Path, bench_rows: Path):
    """(our Scores, lmms-eval's aggregated metrics) for one evaluation run."""
    from llava_ecg.eval import score
    from llava_ecg.eval.predictions import align, load_predictions
    from llava_ecg.eval.references import load_references

    lmms = json.loads(_one(results_dir, "*_results.json").read_text())["results"][TASK]
    answers, rows = align(load_predictions(_one(results_dir, f"*_samples_{TASK}.jsonl")),
                          load_references(bench_rows), source=str(results_dir))
    return score(SUBSET, answers, rows, mode="strict", bootstrap=1000, seed=0), lmms


def per_class_f1(confusion: dict[str, dict[str, int]]) -> dict[str, float]:
    """F1 per gold letter from ``{gold: {predicted: count}}`` (unparseable answers count as misses)."""
    out = {}
    for k, letter in enumerate(LETTERS[: len(CLASS_NAMES)]):
        tp = confusion.get(letter, {}).get(letter, 0)
        support = sum(confusion.get(letter, {}).values())
        predicted = sum(row.get(letter, 0) for row in confusion.values())
        out[CLASS_NAMES[k]] = 200.0 * tp / (support + predicted) if support + predicted else float("nan")
    return out


def loss_history(checkpoint: Path) -> list[tuple[int, float]]:
    state = checkpoint / "trainer_state.json"
    if not state.exists():
        return []
    log = json.loads(state.read_text()).get("log_history", [])
    return [(row["step"], row["loss"]) for row in log if "loss" in row]


def _plot_loss(history, path: Path) -> Path | None:
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    steps, losses = zip(*history)
    ax.plot(steps, losses, color="#c0392b")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("tiny LLaVA, upstream llava.train")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_confusion(confusions: dict[str, dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = list(LETTERS[: len(CLASS_NAMES)]) + ["?"]
    fig, axes = plt.subplots(1, len(confusions), figsize=(5.2 * len(confusions), 4.4), dpi=110)
    for ax, (name, confusion) in zip(np.atleast_1d(axes), confusions.items()):
        m = np.zeros((len(CLASS_NAMES), len(cols)), dtype=int)
        for i, gold in enumerate(cols[:-1]):
            for pred, count in confusion.get(gold, {}).items():
                m[i, cols.index(pred) if pred in cols else len(cols) - 1] += count
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="black" if v < m.max() / 2 else "white")
        ax.set_xticks(range(len(cols)), [c if c == "?" else f"{c}" for c in cols])
        ax.set_yticks(range(len(CLASS_NAMES)), [f"{LETTERS[i]}. {n}" for i, n in enumerate(CLASS_NAMES)])
        ax.set_xlabel("predicted option (? = unparseable)")
        ax.set_ylabel("true class")
        ax.set_title(f"held-out set, {name} training")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(cfg: QuickstartConfig, *, data, checkpoint: Path, results: dict[str, Path], gallery, stage_seconds,
                 started: float) -> Path:
    out = cfg.out_dir
    runs = {name: scores_for(folder, data["bench_rows"]) for name, folder in results.items()}
    for name, (ours, lmms) in runs.items():  # the two aggregation paths must agree
        if abs(ours["acc"] - lmms["acc,none"]) > 1e-6:
            raise RunFailed(f"{name}: llava-ecg score {ours['acc']:.3f} != lmms-eval {lmms['acc,none']:.3f}")
    history = loss_history(checkpoint)
    plots = [p for p in (_plot_loss(history, out / "loss.png"),
                         _plot_confusion({k: v[0].confusion for k, v in runs.items()}, out / "confusion.png")) if p]
    n = runs["after"][0]["n"]
    template = recorded_conv_template(checkpoint)
    chance = 100.0 / len(CLASS_NAMES)
    lines = ["# llava-ecg quickstart", "",
             f"Tiny random-init LLaVA (2-layer Llama, 2-layer CLIP at 64x256) trained on CPU through upstream "
             f"`llava.train`; held-out set of {n} records never seen in training, evaluated through the "
             f"`lmms-eval` CLI (task `{TASK}`), scored with `llava_ecg.eval` (strict mode). Conversation "
             f"template: `{template}`, recorded by training and used by both evaluations.", "",
             "| | accuracy | 95 % CI | unparseable | acc (option log-prob) | AUC (option log-prob) |",
             "|---|---|---|---|---|---|"]
    for name, (ours, lmms) in runs.items():
        lo, hi = ours.get("acc_ci95", [float("nan")] * 2)
        lines.append(f"| {name} training | **{ours['acc']:.1f} %** | {lo:.1f}-{hi:.1f} | {ours['unparseable']} | "
                     f"{lmms.get('acc_logprob,none', float('nan')):.1f} % | "
                     f"{lmms.get('auc_logprob,none', float('nan')):.1f} |")
    lines += [f"| chance | {chance:.1f} % | | | | |", ""]
    after, before = runs["after"][0]["acc"], runs["before"][0]["acc"]
    lines += [f"Accuracy after training is **{after / chance:.1f}x chance** (before: {before / chance:.1f}x).", "",
              "Per-class F1 (held-out):", "", "| class | before | after |", "|---|---|---|"]
    f1 = {name: per_class_f1(v[0].confusion) for name, v in runs.items()}
    for cls in CLASS_NAMES:
        lines.append(f"| {cls} | {f1['before'][cls]:.1f} | {f1['after'][cls]:.1f} |")
    console = len(lines)  # the console copy ends after the per-class table, never on a bare heading
    steps = history[-1][0] if history else "?"
    lines += ["", f"Training: {steps} optimizer steps, final logged loss "
              f"{history[-1][1]:.3f}" if history else "", "",
              "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in stage_seconds.items()]
    lines += [f"| **total** | **{time.time() - started:.1f}** |", "", "## Files", ""]
    files = {"records (WFDB)": out / "records", "training rows": data["train_rows"], "manifest": data["manifest"],
             "build summary chart": data["summary"], "held-out set (ECGBench format)": data["bench_rows"],
             "trained checkpoint": checkpoint, "lmms-eval results (before)": results["before"],
             "lmms-eval results (after)": results["after"], "logs": out / "logs"}
    lines += [f"- {k}: `{v}`" for k, v in files.items()]
    lines += [f"- plot: `{p}`" for p in plots] + [f"- gallery: `{p}`" for p in gallery]
    lines += ["", "![loss](loss.png)", "", "![confusion](confusion.png)", ""]
    report = out / "report.md"
    atomic.write_text(report, "\n".join(lines))
    atomic.write_json(out / "figures.json", {
        "n": n, "chance": chance, "conv_template": template, "steps": steps,
        "final_loss": history[-1][1] if history else None, "per_class_f1": f1,
        "runs": {name: {"acc": ours["acc"], "acc_ci95": list(ours.get("acc_ci95", [None, None])),
                        "unparseable": ours["unparseable"], "acc_logprob": lmms.get("acc_logprob,none"),
                        "auc_logprob": lmms.get("auc_logprob,none")} for name, (ours, lmms) in runs.items()},
    }, indent=1)
    print("\n".join(lines[:console]))
    print(f"\nreport: {report}")
    return report
