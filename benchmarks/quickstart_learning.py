"""Does the tiny LLaVA of the CPU quickstart learn rhythm from images? Runs the full quickstart per seed.

    .venv/bin/python benchmarks/quickstart_learning.py --seeds 0 1 2 [-o bench_out/quickstart] [--write-docs]
    .venv/bin/python benchmarks/quickstart_learning.py --from bench_out/quickstart/learning.json --write-docs

Prints, per seed, held-out accuracy before/after training (strict scoring), its CI, the multiple of chance (25 %),
the option log-prob AUC, training steps and wall time, then the mean and how many seeds reach >= 3x chance.
``--repeat N`` runs every seed N times (same machine, same threads) and prints the spread per seed.
``--write-docs`` rewrites the measured blocks of README.md and docs/quickstart.md (between their
``quickstart-measured`` markers) from these figures, so the docs show what was measured, nothing else.
Not a test: a seed takes 4-5 min on a quiet 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHANCE = 25.0
MARK = "quickstart-measured"


def run_seed(seed: int, folder: Path, extra: list[str]) -> dict:
    exe = Path(sys.executable).with_name("llava-ecg")
    start = time.time()
    proc = subprocess.run([str(exe), "quickstart", "-o", str(folder), "--seed", str(seed), "--no-gallery", *extra],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    figures = json.loads((folder / "figures.json").read_text())
    stages = json.loads((folder / "quickstart.json").read_text())["stage_seconds"]
    after, before = figures["runs"]["after"], figures["runs"]["before"]
    return {"seed": seed, "before": before["acc"], "before_unparseable": before["unparseable"],
            "before_acc_logprob": before["acc_logprob"], "before_auc": before["auc_logprob"],
            "after": after["acc"], "ci95": after["acc_ci95"], "unparseable": after["unparseable"],
            "acc_logprob": after["acc_logprob"], "auc": after["auc_logprob"], "x_chance": after["acc"] / CHANCE,
            "f1": figures["per_class_f1"]["after"], "steps": figures["steps"], "template": figures["conv_template"],
            "train_s": stages["train"], "wall_s": time.time() - start}


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from llava_ecg.quickstart.config import QuickstartConfig

    cfg = QuickstartConfig(out_dir=".")
    return {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cpu": cpu,
            "loader_workers": cfg.workers, "epochs": cfg.epochs,
            "torch": torch.__version__, "load_after": round(os.getloadavg()[0], 1), "date": time.strftime("%Y-%m-%d")}


def threads(env: dict) -> str:
    """How the training run used the cores (older records: all threads in the training process)."""
    workers = env.get("loader_workers", 0)
    if not workers:
        return f"{env['torch_threads']} threads"
    return f"{max(1, env['torch_threads'] - workers)} training thread(s) + {workers} loader worker(s)"


def summary(rows: list[dict]) -> dict:
    seeds = sorted({r["seed"] for r in rows})
    first = [next(r for r in rows if r["seed"] == s) for s in seeds]
    mean = sum(r["after"] for r in first) / len(first)
    spread = {s: [r["after"] for r in rows if r["seed"] == s] for s in seeds}
    return {"mean": mean, "x3": sum(r["x_chance"] >= 3 for r in first), "n": len(first), "first": first,
            "spread": {s: max(v) - min(v) for s, v in spread.items() if len(v) > 1}}


def readme_block(rows: list[dict], env: dict) -> str:
    s = summary(rows)
    r0 = next(r for r in s["first"] if r["seed"] == 0) if any(r["seed"] == 0 for r in s["first"]) else s["first"][0]
    lo, hi = r0["ci95"]
    seeds = " / ".join(f"{r['after']:.1f}" for r in s["first"])
    return "\n".join([
        f"Expected output (seed {r0['seed']}, {env['cores']} cores; [docs/quickstart.md](docs/quickstart.md) has "
        f"seeds {'-'.join(str(r['seed']) for r in s['first'])}: {seeds} %, mean {s['mean']:.1f} %, >= 3x chance "
        f"in {s['x3']} of {s['n']}):", "", "```",
        "| | accuracy | 95 % CI | unparseable | acc (option log-prob) | AUC (option log-prob) |",
        "|---|---|---|---|---|---|",
        f"| before training | **{r0['before']:.1f} %** | - | {r0['before_unparseable']} | "
        f"{r0['before_acc_logprob']:.1f} % | {r0['before_auc']:.1f} |",
        f"| after training | **{r0['after']:.1f} %** | {lo:.1f}-{hi:.1f} | {r0['unparseable']} | "
        f"{r0['acc_logprob']:.1f} % | {r0['auc']:.1f} |",
        f"| chance | {CHANCE:.1f} % | | | | |", "```", "",
        f"Measured {env['date']} with `benchmarks/quickstart_learning.py` ({env['cpu']}, torch {env['torch']}, "
        f"{threads(env)}); training took {r0['train_s']:.0f} s of a {r0['wall_s']:.0f} s run "
        f"(load average {env['load_after']} at the end).",
    ])


def docs_block(rows: list[dict], env: dict) -> str:
    s = summary(rows)
    classes = list(s["first"][0]["f1"])
    lines = [f"`benchmarks/quickstart_learning.py` on {env['date']} ({env['cpu']}, {env['cores']} cores, torch "
             f"{env['torch']} with {threads(env)}, full default budget: 1,000 records per class, "
             f"{env.get('epochs', 4):g} epochs = {s['first'][0]['steps']} steps of batch 8, gallery off, template "
             f"`{s['first'][0]['template']}` for training and both evaluations):", "",
             "| seed | before (strict) | after | 95 % CI (after) | x chance | AUC from option log-probs | "
             + " | ".join(f"F1 {c}" for c in classes) + " | training s | wall s |",
             "|---" * (8 + len(classes)) + "|"]
    for r in rows:
        lo, hi = r["ci95"]
        lines.append(f"| {r['seed']} | {r['before']:.1f} % | **{r['after']:.1f} %** | {lo:.1f}-{hi:.1f} | "
                     f"{r['x_chance']:.2f} | {r['auc']:.1f} | " + " | ".join(f"{r['f1'][c]:.1f}" for c in classes)
                     + f" | {r['train_s']:.0f} | {r['wall_s']:.0f} |")
    lines += ["", f"Mean **{s['mean']:.1f} %** over {s['n']} seeds ({s['mean'] / CHANCE:.2f}x the 25 % chance); "
              f">= 3x chance in {s['x3']} of {s['n']}."]
    if s["spread"]:
        lines.append("Repeats of one seed on this machine: " + ", ".join(
            f"seed {k} spread {v:.1f} points" for k, v in s["spread"].items()) + ".")
    return "\n".join(lines)


def write_block(path: Path, block: str) -> None:
    text = path.read_text()
    pattern = re.compile(rf"(<!-- {MARK}:begin[^>]*-->\n).*?(\n<!-- {MARK}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no <!-- {MARK}:begin --> ... <!-- {MARK}:end --> block to rewrite")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(pattern.sub(lambda m: m.group(1) + block + m.group(2), text, count=1))
    tmp.replace(path)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeat", type=int, default=1, help="runs per seed (the spread shows run-to-run determinism)")
    ap.add_argument("-o", "--output", default="bench_out/quickstart")
    ap.add_argument("--from", dest="source", help="a learning.json written earlier: print and write docs only")
    ap.add_argument("--write-docs", action="store_true", help="rewrite README.md's and docs/quickstart.md's block")
    args, extra = ap.parse_known_args()
    out = Path(args.output)
    if args.source:
        saved = json.loads(Path(args.source).read_text())
        rows, env = saved["rows"], saved["machine"]
    else:
        rows = []
        print(f"{'seed':>4} {'before %':>9} {'after %':>8} {'x chance':>8} {'AUC':>5} {'steps':>6} {'train s':>8} "
              f"{'wall s':>7}")
        for seed in args.seeds:
            for k in range(args.repeat):
                r = run_seed(seed, out / (f"seed{seed}" + (f"-run{k}" if k else "")), extra)
                rows.append(r)
                print(f"{r['seed']:>4} {r['before']:>9.1f} {r['after']:>8.1f} {r['x_chance']:>8.2f} {r['auc']:>5.1f} "
                      f"{r['steps']:>6} {r['train_s']:>8.0f} {r['wall_s']:>7.0f}", flush=True)
        env = machine()
        out.mkdir(parents=True, exist_ok=True)
        (out / "learning.json").write_text(json.dumps({"rows": rows, "machine": env}, indent=2))
    s = summary(rows)
    print(f"\nmean held-out accuracy after training {s['mean']:.1f} % ({s['mean'] / CHANCE:.2f}x chance); "
          f">= 3x chance in {s['x3']} of {s['n']} seeds" + (f"; repeat spread {s['spread']}" if s["spread"] else ""))
    if args.write_docs:
        write_block(REPO / "README.md", readme_block(rows, env))
        write_block(REPO / "docs" / "quickstart.md", docs_block(rows, env))


if __name__ == "__main__":
    main()
