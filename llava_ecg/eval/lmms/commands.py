"""``llava-ecg tasks-path`` and ``llava-ecg eval``: find the ECGBench tasks, run lmms-eval on them offline.

``eval`` is a thin wrapper: it runs the real ``lmms-eval`` CLI (``python -m lmms_eval``) with our model, our task
folder on ``--include_path`` and the HF offline switches, then checks that a results file was written — lmms-eval
exits 0 on many evaluation errors, so its exit code alone proves nothing. Imports stay inside the functions so
``llava-ecg --help`` does not load torch.
"""
from __future__ import annotations

import argparse

from llava_ecg.argtypes import float_range, output_path, positive_int
from llava_ecg.errors import LlavaEcgError, RunFailed


def _tasks_path(args: argparse.Namespace) -> int:
    from llava_ecg.eval.lmms.paths import tasks_path

    print(tasks_path())
    return 0


OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def build_lmms_eval_command(args: argparse.Namespace) -> list[str]:
    import shlex
    import sys

    from llava_ecg.eval.lmms.paths import tasks_path

    model_args = [f"pretrained={args.model_path}", f"dtype={args.dtype}"]
    if args.conv_template:  # else the model uses the checkpoint's recorded template (llava_ecg.checkpoint)
        model_args.append(f"conv_template={args.conv_template}")
    if args.model_base:
        model_args.append(f"model_base={args.model_base}")
    if args.no_option_scores:
        model_args.append("option_scores=false")
    if args.device:
        model_args.append(f"device={args.device}")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_ecg", "--model_args", ",".join(model_args),
           "--tasks", args.tasks, "--include_path", str(tasks_path()), "--batch_size", str(args.batch_size),
           "--output_path", str(args.output), "--log_samples", "--verbosity", args.verbosity]
    if args.limit is not None:
        cmd += ["--limit", f"{args.limit:g}"]
    if args.max_new_tokens is not None:
        cmd += ["--gen_kwargs", f"max_new_tokens={args.max_new_tokens}"]
    return cmd + shlex.split(args.lmms_eval_args or "")


def input_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the local paths given, checked before lmms-eval starts (which would load for seconds and
    then print a hub traceback for a mistyped folder). A hub id (``owner/name``) is left to the model loader."""
    from pathlib import Path

    for flag, value in (("model_path", args.model_path), ("--model-base", args.model_base)):
        if not value or Path(value).expanduser().is_dir():
            continue
        looks_local = value.startswith(("/", ".", "~")) or value.count("/") != 1 or Path(value).exists()
        if looks_local:
            return f"{value}: {flag} is not a checkpoint folder"
    if args.ecgbench_root and not Path(args.ecgbench_root).is_dir():
        return f"{args.ecgbench_root}: --ecgbench-root is not a folder"
    if getattr(args, "tasks", None) and "--include_path" not in (getattr(args, "lmms_eval_args", None) or ""):
        known = known_tasks()
        unknown = [t for t in args.tasks.split(",") if t.strip() and "*" not in t and t.strip() not in known]
        if unknown:
            ours = sorted(t for t in known if t.startswith("ecgbench"))
            return (f"--tasks: unknown task {', '.join(map(repr, unknown))}; ECGBench tasks: {', '.join(ours)} "
                    "(or any lmms-eval task)")
    return None


def known_tasks() -> set[str]:
    """Task and group names of our task folder and of the installed lmms-eval, read from the YAML text (importing
    lmms-eval's task index takes seconds)."""
    import importlib.util
    import re
    from pathlib import Path

    from llava_ecg.eval.lmms.paths import tasks_path

    folders = [tasks_path()]
    spec = importlib.util.find_spec("lmms_eval")
    if spec is not None and spec.submodule_search_locations:
        folders.append(Path(list(spec.submodule_search_locations)[0]) / "tasks")
    pattern = re.compile(r"^(?:task|group):\s*['\"]?([^'\"\s#]+)", re.M)
    names: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.yaml"):
            try:
                names.update(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
            except OSError:
                continue
    return names


def _eval(args: argparse.Namespace) -> int:
    import os
    import subprocess
    import time
    from pathlib import Path

    from llava_ecg.atomic import new_output_dir

    problem = input_problem(args)
    if problem:
        raise LlavaEcgError(problem)
    env = dict(os.environ)
    if not args.online:
        env.update(OFFLINE_ENV)
    if args.ecgbench_root:
        env["ECGBENCH_ROOT"] = str(Path(args.ecgbench_root).resolve())
    if args.source:
        env["ECGBENCH_SOURCE"] = args.source
    output = Path(args.output).resolve()
    started = time.time()
    cmd = build_lmms_eval_command(args)
    with new_output_dir(output):  # a failed evaluation leaves no new results folder behind
        print("+", " ".join(cmd), flush=True)
        code = subprocess.call(cmd, env=env)
        written = [p for p in output.rglob("*_results.json") if p.stat().st_mtime >= started - 1]
        if code != 0:
            raise RunFailed(f"lmms-eval exited with code {code} (see its output above)")
        if not written:
            raise RunFailed(f"lmms-eval exited 0 but wrote no *_results.json under {output}; "
                            "see the traceback above (rerun with --verbosity DEBUG)")
    print(f"results: {written[-1]}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("tasks-path", help="print the folder of llava-ecg's lmms-eval tasks (--include_path)")
    p.set_defaults(func=_tasks_path)

    p = subparsers.add_parser(
        "eval", help="run lmms-eval on ECGBench with a LLaVA checkpoint (offline)",
        description="Runs `python -m lmms_eval --model llava_ecg` on ECGBench tasks with our task folder and the HF "
                    "offline switches. Data: --ecgbench-root / ECGBENCH_ROOT (local parquet or JSON + images) or "
                    "the HF cache (docs/evaluation.md). --lmms-eval-args passes anything else through.")
    p.add_argument("model_path", help="LLaVA checkpoint folder (llava_llama), e.g. PULSE-7B")
    p.add_argument("--tasks", default="ecgbench", help="lmms-eval tasks/groups (default: ecgbench)")
    p.add_argument("-o", "--output", default="eval_results", type=output_path, help="lmms-eval --output_path (default: eval_results)")
    p.add_argument("--model-base", help="base LLM for LoRA or projector-only checkpoints")
    p.add_argument("--conv-template", default=None,
                   help="conversation template (default: the one the checkpoint records, else llava_v1)")
    p.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda if available)")
    p.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA, fp32 on CPU), float16, bfloat16, float32")
    p.add_argument("--batch-size", type=positive_int, default=1, help="lmms-eval batch size (default 1)")
    p.add_argument("--limit", type=float_range(0, low_open=True),
                   help="first N items per task, or a fraction below 1 (smoke tests only)")
    p.add_argument("--max-new-tokens", type=positive_int, help="override the authors' 1024 (smoke tests only)")
    p.add_argument("--ecgbench-root", help="folder with local ECGBench data (sets ECGBENCH_ROOT)")
    p.add_argument("--source", choices=("auto", "hf", "parquet", "json"), help="sets ECGBENCH_SOURCE")
    p.add_argument("--no-option-scores", action="store_true", help="skip answer log-probabilities (no score AUC)")
    p.add_argument("--online", action="store_true", help="allow hub access (default: HF offline switches on)")
    p.add_argument("--verbosity", default="INFO", help="lmms-eval --verbosity (DEBUG re-raises errors)")
    p.add_argument("--lmms-eval-args", help='extra lmms-eval arguments, one quoted string (e.g. "--seed 1,2,3,4")')
    p.set_defaults(func=_eval)
