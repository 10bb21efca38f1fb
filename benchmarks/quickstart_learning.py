"""Does the tiny LLaVA of the CPU quickstart learn rhythm from images? Runs the full quickstart per seed.

    .venv/bin/python benchmarks/quickstart_learning.py --seeds 0 1 2 [-o bench_out/quickstart] [extra quickstart args]

Prints, per seed, held-out accuracy before/after training (strict scoring), the multiple of chance (25 %),
training steps and wall time, then how many seeds reach >= 2x chance. Not a test: it takes ~8 min per seed on
2 cores. Figures go to docs/quickstart.md.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

CHANCE = 25.0


def run_seed(seed: int, out: Path, extra: list[str]) -> dict:
    exe = Path(sys.executable).with_name("llava-ecg")
    folder = out / f"seed{seed}"
    start = time.time()
    proc = subprocess.run([str(exe), "quickstart", "-o", str(folder), "--seed", str(seed), "--no-gallery", *extra],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    report = (folder / "report.md").read_text()
    acc = {k: float(v) for k, v in re.findall(r"^\| (before|after) training \| \*\*([\d.]+) %\*\*", report, re.M)}
    state = json.loads((folder / "checkpoint" / "trainer_state.json").read_text())
    stages = json.loads((folder / "quickstart.json").read_text())["stage_seconds"]
    return {"seed": seed, "before": acc["before"], "after": acc["after"], "x_chance": acc["after"] / CHANCE,
            "steps": state["global_step"], "train_s": stages["train"], "wall_s": time.time() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("-o", "--output", default="bench_out/quickstart")
    args, extra = ap.parse_known_args()
    out = Path(args.output)
    rows = []
    print(f"{'seed':>4} {'before %':>9} {'after %':>8} {'x chance':>8} {'steps':>6} {'train s':>8} {'wall s':>7}")
    for seed in args.seeds:
        r = run_seed(seed, out, extra)
        rows.append(r)
        print(f"{r['seed']:>4} {r['before']:>9.1f} {r['after']:>8.1f} {r['x_chance']:>8.2f} {r['steps']:>6} "
              f"{r['train_s']:>8.0f} {r['wall_s']:>7.0f}", flush=True)
    hits = sum(r["x_chance"] >= 2 for r in rows)
    mean = sum(r["after"] for r in rows) / len(rows)
    print(f"\nmean held-out accuracy after training {mean:.1f} % ({mean / CHANCE:.2f}x chance); "
          f">= 2x chance in {hits} of {len(rows)} seeds")
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
