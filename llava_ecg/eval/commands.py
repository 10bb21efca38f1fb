"""``llava-ecg score``, ``llava-ecg judge`` and ``llava-ecg report``. Imports stay inside the handlers."""
from __future__ import annotations

import argparse

from llava_ecg.argtypes import non_negative_int, output_path, positive_float, positive_int


def _add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("LLM judge (ptb-test-report, arena); defaults from LLAVA_ECG_LLM_* / OPENAI_* env")
    group.add_argument("--judge-url", help="OpenAI-compatible base URL incl. /v1 (Azure: .../openai/deployments/NAME)")
    group.add_argument("--judge-model", help="model name sent to the endpoint (recorded in the results)")
    group.add_argument("--judge-key-env", default=None,
                       help="name of the env var holding the API key (default LLAVA_ECG_LLM_KEY, then OPENAI_API_KEY)")
    group.add_argument("--judge-auth", choices=("bearer", "api-key"), help="'api-key' for Azure OpenAI")
    group.add_argument("--api-version", help="Azure api-version query parameter, e.g. 2024-08-01-preview")
    group.add_argument("--concurrency", type=positive_int, help="parallel judge requests (default 8)")
    group.add_argument("--cache-dir", help="judge cache folder (default $LLAVA_ECG_LLM_CACHE or ~/.cache/llava_ecg/llm)")
    group.add_argument("--prompt-file", help="replace the judge instruction text (e.g. the paper's Fig A9/A10 text)")
    group.add_argument("--layout-file", help="YAML template placing instruction, reference and answer in the request "
                                             "(default: the authors' layout; docs/judge.md)")
    group.add_argument("--no-json-mode", action="store_true", help="do not send response_format=json_object")
    group.add_argument("--timeout", type=positive_float, help="seconds per judge request (default 120)")


def _common(parser: argparse.ArgumentParser, subset_help: str) -> None:
    parser.add_argument("subset", metavar="SUBSET", help=subset_help)
    parser.add_argument("predictions", metavar="PREDICTIONS",
                        help="lmms-eval *_samples_*.jsonl, the authors' JSONL {question_id, text}, or a JSON list")
    parser.add_argument("--references", "-r", required=True, metavar="REF",
                        help="ECGBench rows: .json/.jsonl/.parquet or a folder of parquet shards")
    parser.add_argument("--bootstrap", type=non_negative_int, default=1000,
                        help="bootstrap resamples for 95%% CIs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--model", help="label for this run in reports (default: folder of PREDICTIONS)")
    parser.add_argument("-o", "--output", help="write the full result (metrics, per-class, items) to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subparsers) -> None:
    p = subparsers.add_parser("score", help="score model answers on one ECGBench subset",
                              description="Score answers produced elsewhere (lmms-eval sample logs or the authors' "
                              "JSONL) against ECGBench rows. Modes: strict (default) or pulse (the paper's semantics).")
    _common(p, "ECGBench config: ptb-test, cpsc-test, mmmu-ecg, arena, ... (report/arena need a judge)")
    p.add_argument("--mode", choices=("strict", "pulse"), default="strict",
                   help="strict (default: corrected parsing) or pulse (the authors' scorer semantics)")
    _add_judge_options(p)
    p.set_defaults(func=_score)

    j = subparsers.add_parser("judge", help="LLM-judge report/arena answers (ptb-test-report, arena)",
                              description="Judge open-ended answers with any OpenAI-compatible endpoint; per-item "
                              "results are cached, failures are counted, never scored 0.")
    _common(j, "ptb-test-report or arena (the other subsets are scored without a judge: llava-ecg score)")
    _add_judge_options(j)
    j.set_defaults(func=_judge, mode="strict")

    r = subparsers.add_parser("report", help="Markdown table vs the paper + PNG plots from score files",
                              description="Collect llava-ecg score files and lmms-eval results under RESULTS_DIR.")
    r.add_argument("results_dir", metavar="RESULTS_DIR", help="folder with score files and/or lmms-eval results")
    r.add_argument("-o", "--output", type=output_path, help="folder for report.md and plots (default RESULTS_DIR)")
    r.add_argument("--no-plots", action="store_true", help="write report.md only")
    r.add_argument("--paper-rows", metavar="MODELS",
                   help="the paper's rows to show: default (PULSE-7B, GPT-4o, GPT-4o mini, Gemini 1.5 Pro, Claude 3.5 "
                        "Sonnet, LLaVA-Med, ...), all, none, or comma-separated model names")
    r.add_argument("--ablation", choices=("table5", "table6"),
                   help="also print an ablation table (one run per training set) beside PULSE Table 5 or 6")
    r.add_argument("--ablation-full", metavar="RUN",
                   help="the run trained on the full mix (AVG reference; default: the best average)")
    r.set_defaults(func=_report)


def _judge_from_args(args):
    import os

    from llava_ecg.eval.judge import Judge

    from llava_ecg.llm import LLMConfigError

    key = None
    if args.judge_key_env:
        key = os.environ.get(args.judge_key_env)
        if not key:  # never fall back to another variable's key: it would go to the wrong endpoint
            raise LLMConfigError(f"--judge-key-env {args.judge_key_env}: that environment variable is not set "
                                 "or empty")
    prompt_file = {"report": args.prompt_file, "arena": args.prompt_file} if args.prompt_file else None
    return Judge.from_env(
        progress=not args.quiet, prompt_file=prompt_file, layout=args.layout_file, base_url=args.judge_url,
        model=args.judge_model,
        api_key=key, auth=args.judge_auth, api_version=args.api_version, concurrency=args.concurrency,
        cache_dir=args.cache_dir, timeout_s=args.timeout, json_mode=False if args.no_json_mode else None,
    )


def _run(args, *, judged_only: bool) -> int:
    import json
    from pathlib import Path

    from llava_ecg.eval import EvalInputError, get_subset, score
    from llava_ecg.eval.predictions import align, load_predictions
    from llava_ecg.eval.references import load_references
    from llava_ecg.eval.results import score_document, write_json_atomic
    from llava_ecg.eval.scoring import references_mismatch
    from llava_ecg.catalog.subsets import ARENA, REPORT

    try:
        subset = get_subset(args.subset)
    except KeyError as exc:
        raise EvalInputError(exc.args[0]) from None
    judged = subset.kind in (REPORT, ARENA)
    if judged_only and not judged:
        raise EvalInputError(f"{subset.name} is scored without a judge: use `llava-ecg score`")
    rows = load_references(args.references)
    mismatch = references_mismatch(subset, rows, mode=args.mode)
    if mismatch:
        raise EvalInputError(f"--references {args.references}: {mismatch}")
    answers, rows = align(load_predictions(args.predictions), rows, source=str(args.predictions))
    judge = _judge_from_args(args) if judged else None
    try:
        scores = score(subset.name, answers, rows, mode=args.mode, bootstrap=args.bootstrap, seed=args.seed,
                       judge=judge)
    finally:
        if judge is not None:
            judge.close()
    model = args.model or Path(args.predictions).resolve().parent.name
    if args.output:
        doc = score_document(subset.name, args.mode, scores, model=model, predictions=str(args.predictions),
                             references=str(args.references))
        write_json_atomic(args.output, doc)
    print(json.dumps({"subset": subset.name, "mode": args.mode, **_printable(scores)}, indent=1))
    if judged and scores.get("failed"):
        from llava_ecg.errors import RunFailed

        first = next((r.error for r in getattr(scores, "records", None) or () if getattr(r, "error", None)), None)
        where = f"per-item errors in {args.output}" if args.output else "-o FILE writes per-item errors"
        raise RunFailed(f"the judge failed on {scores['failed']} of {scores['n']} items ({where}; first: {first}); "
                        "rerun to retry them — successful items are cached")
    return 0


def _printable(scores) -> dict:
    import math

    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()}


def _score(args) -> int:
    return _run(args, judged_only=False)


def _judge(args) -> int:
    return _run(args, judged_only=True)


def _report(args) -> int:
    from llava_ecg.eval.report import write_report

    path = write_report(args.results_dir, args.output, plots=not args.no_plots, paper_rows=args.paper_rows)
    if args.ablation:
        from llava_ecg.eval.ablation import ablation_table
        from llava_ecg.eval.results import load_results, write_text_atomic

        text = ablation_table(load_results(args.results_dir), args.ablation, full_run=args.ablation_full)
        write_text_atomic(path.parent / f"ablation-{args.ablation}.md", text)
        print(text)
    print(path)
    return 0
