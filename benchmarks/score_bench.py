"""How long scoring 10,000 predictions takes (target: < 1 s without bootstrap), per subset kind and mode.

    .venv/bin/python benchmarks/score_bench.py [--n 10000] [--bootstrap 1000]

Synthetic answers with realistic noise (extra prose, wrong labels, unparseable text). Prints one line per case;
timings are wall-clock on whatever machine runs it (noisy on shared CPUs — repeat a few times).
"""
from __future__ import annotations

import argparse
import random
import time

from llava_ecg.eval import score
from llava_ecg.catalog.subsets import get_subset

G12_PROMPT = "Answer the following multiple choice question.\n" + "\n".join(
    f"{c}. OPT{c}(option {c}), X(x), Y(y), Z(z)" for c in "ABCDEFGH")


def _rows(subset: str, n: int, rng: random.Random):
    s = get_subset(subset)
    rows, preds = [], []
    for i in range(n):
        if s.kind == "multilabel":
            gold = ";".join(rng.sample(s.labels, rng.randint(1, 2)))
            pred = rng.choice([gold, ";".join(rng.sample(s.labels, 2)), f"The ECG shows {gold}.", "unclear"])
            prompt = "Classify."
        elif s.kind == "mcq":
            letter = rng.choice(s.letters)
            gold = f"{letter}. OPT{letter}(option {letter})"
            pred = rng.choice([letter, f"Answer: {rng.choice(s.letters)}", f"I think it is OPT{letter}.", "hmm"])
            prompt = G12_PROMPT
        else:
            options = ["no", "not sure", "yes", "left ventricular hypertrophy", "none"]
            gold = rng.sample(options, 1)
            pred = rng.choice([gold[0], "not sure", ", ".join(rng.sample(options, 2)), "unclear"])
            prompt = f"Question: q\nOptions: {', '.join(options)}\n\nOnly answer based on the given Options without any explanation."
        rows.append({"id": f"{subset}-{i}", "conversations": [{"from": "human", "value": prompt},
                                                             {"from": "gpt", "value": gold}]})
        preds.append(pred)
    return preds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(0)
    warm_preds, warm_rows = _rows("cpsc-test", 10, rng)
    t0 = time.perf_counter()
    score("cpsc-test", warm_preds, warm_rows, mode="pulse", bootstrap=10)  # imports scikit-learn once
    print(f"first call (imports scikit-learn): {time.perf_counter() - t0:.2f} s; n={args.n}, bootstrap={args.bootstrap}")
    print(f"{'subset':18} {'mode':7} {'score s':>8} {'with CI s':>13}  headline")
    for subset in ("cpsc-test", "code15-test", "ptb-test", "g12-test-no-cot", "mmmu-ecg", "ecgqa-test"):
        preds, rows = _rows(subset, args.n, rng)
        for mode in ("pulse", "strict"):
            t0 = time.perf_counter()
            plain = score(subset, preds, rows, mode=mode, bootstrap=0)
            t1 = time.perf_counter()
            boot = score(subset, preds, rows, mode=mode, bootstrap=args.bootstrap)
            t2 = time.perf_counter()
            key = get_subset(subset).metrics[-1] if get_subset(subset).kind != "multilabel" else "f1"
            ci = boot.get(f"{key}_ci95")
            ci_text = f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "-"
            print(f"{subset:18} {mode:7} {t1 - t0:8.3f} {t2 - t1:13.3f}  {key}={plain[key]:.1f} ci95={ci_text}")


if __name__ == "__main__":
    main()
