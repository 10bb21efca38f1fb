"""``llava-ecg build instruct|bench``, ``llava-ecg validate`` and ``llava-ecg decontam``.

Imports stay inside the handlers so ``llava-ecg --help`` does not pay for numpy/scipy/matplotlib.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llava_ecg.argtypes import (comma_list, existing_dir, float_range, int_range, output_path, positive_int,
                                probability, shard)
from llava_ecg.errors import LlavaEcgError

SOURCE_CHOICES = ("ptbxl", "mimic", "code15", "ecgqa", "cpsc", "g12", "csn", "challenge", "synthetic", "custom")
OFFICIAL_SPLIT = ("ptbxl", "ecgqa")


def _layout_names():
    from llava_ecg.render.layouts import LAYOUTS

    return LAYOUTS


def register(sub) -> None:
    build = sub.add_parser("build", help="build ECGInstruct-style training data or ECGBench-style test sets")
    bsub = build.add_subparsers(dest="build_command", metavar="WHAT")
    build.set_defaults(func=lambda args: (build.print_help(), 2)[1])
    _register_instruct(bsub)
    _register_bench(bsub)

    p = sub.add_parser("validate", help="check an ECGInstruct JSON/JSONL file row by row (streaming) and count it")
    p.add_argument("file", help="ECGInstruct.json (JSON array) or a .jsonl row file")
    p.add_argument("--image-root", type=existing_dir, help="check that every row's image exists under this folder")
    p.add_argument("--json", dest="json_out", help="also write the report as JSON here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("select", help="training subsets of a released ECGInstruct.json by source and task "
                                      "(PULSE Tables 5-6 ablations), streaming",
                       description="Filter ECGInstruct.json (JSON array or JSONL) in one streaming pass. Sources: "
                                   "P=PTB-XL M=MIMIC-IV-ECG C=CODE-15%% E=ECG-QA; tasks: F=feature R=rhythm "
                                   "M=morphology C=clinical report.")
    p.add_argument("file", help="ECGInstruct.json (or a .jsonl row file)")
    p.add_argument("-o", "--output", required=True, type=output_path,
                   help="output folder (one JSON array per selection)")
    p.add_argument("--ablation", action="append", choices=("table5", "table6"), default=[],
                   help="write every training set of this ablation table (repeatable)")
    p.add_argument("--sources", help="letters of PMCE for a custom selection (e.g. PM)")
    p.add_argument("--tasks", default="FRMC", help="letters of FRMC for a custom selection (default all)")
    p.add_argument("--formats", help="comma list of metadata types (close-ended,open-ended,fill-in-the-blank,"
                                     "multiple-choice) for a custom selection")
    p.add_argument("--name", default="selection", help="file name of the custom selection")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("decontam", help="count test records/patients that also occur in a training build")
    p.add_argument("--train", required=True, help="training manifest.jsonl (or any ECGInstruct row file)")
    p.add_argument("--test", required=True, nargs="+", help="ECGBench-format JSON(L), bench manifests or record lists")
    p.add_argument("--ptbxl-database", help="ptbxl_database.csv, to compare PTB-XL patients too")
    p.add_argument("-o", "--output", help="write the report as JSON here")
    p.set_defaults(func=cmd_decontam)

    p = sub.add_parser("readmit", help="take reviewed items of an LLM-synthesis build back into its rows",
                       description="Rejected synthesised items are in OUTPUT/review.jsonl; re-admit the ones a "
                                   "reviewer found good, by id or from an edited review file "
                                   "(entries with \"decision\": \"admit\").")
    p.add_argument("output", type=existing_dir, help="the build folder (holds review.jsonl)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--ids", help="comma-separated row ids")
    how.add_argument("--from", dest="from_file", help="an edited review file")
    p.add_argument("--reviewer", help="who reviewed (stored in the manifest)")
    p.set_defaults(func=cmd_readmit)


def _one_layout(text: str) -> str:
    return comma_list(_layout_names, "layout")(text)[0] if "," not in text else _no_list(text)


def _no_list(text: str):
    raise argparse.ArgumentTypeError(f"one layout, not a list: {text!r}")



def _register_instruct(bsub) -> None:
    p = bsub.add_parser("instruct", help="ECGInstruct-format rows (+ manifest, summary table and chart)",
                        description="Build ECGInstruct/LLaVA rows from raw records. Without --llm-url the build is "
                                    "deterministic and offline; --shard I/N outputs union to the full build and a "
                                    "killed build resumes where it stopped.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--source", choices=SOURCE_CHOICES, help="dataset kind of --root")
    src.add_argument("--synthetic", type=positive_int, metavar="N",
                     help="build from N synthetic records instead (also written as WFDB to OUTPUT/records)")
    p.add_argument("--root", help="dataset root (ECG-QA: the ecg-qa folder; then also --ptbxl-root)")
    p.add_argument("--ptbxl-root", help="PTB-XL root holding the records ECG-QA questions refer to")
    p.add_argument("-o", "--output", required=True, type=output_path, help="output folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--on-the-fly", dest="mode", action="store_const", const="on-the-fly",
                      help="rows carry a render spec; the train dataset draws images at load time (default)")
    mode.add_argument("--render", dest="mode", action="store_const", const="render", help="write images/ too")
    p.set_defaults(mode="on-the-fly")
    p.add_argument("--split", choices=("train", "val", "test", "all"),
                   help="records of this split (default: train for PTB-XL/ECG-QA, all otherwise)")
    p.add_argument("--limit", type=positive_int, help="only the first N records")
    p.add_argument("--shard", type=shard, default=(0, 1), metavar="I/N",
                   help="build only shard I of N (every N-th record from I); the shards' outputs union to the build")
    p.add_argument("--exclude", action="append", default=[], metavar="TESTSET",
                   help="leave out records of this test set (ECGBench JSON, manifest or record list); repeatable")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--samples-per-record", type=positive_int, default=4, help="rows per record (default 4)")
    p.add_argument("--mix", default="balanced",
                   help="'balanced', 'pulse' (Table A1 ratios) or weights like rhythm.mcq=2,report.open=1")
    p.add_argument("--targets", metavar="FILE",
                   help="target table (YAML/JSON: source -> {family.format: count or share}; '*' for any source); "
                        "overrides --mix")
    p.add_argument("--render-mix", default="pulse",
                   help="how images are drawn: 'pulse' (default: the paper's ECGInstruct mix in ECG-Image-Kit's "
                        "look), 'pulse-classic' (same mix, our classic look), 'fixed' (only the flags below, "
                        "classic look) or a JSON file (docs/rendering.md); the flags below override the mix")
    p.add_argument("--layouts", type=comma_list(_layout_names, "layout"),
                   help="comma list to draw from, e.g. 3x4,6x2,12x1 (default: the mix's; fixed: 3x4)")
    p.add_argument("--distort", choices=("none", "light", "heavy", "mixed"),
                   help="distortion preset (default: the mix's; fixed: mixed = none/light/heavy 50/35/15 %%)")
    p.add_argument("--header-prob", type=probability,
                   help="probability (0-1) of a printed header on an image (default: the mix's; fixed: 0)")
    p.add_argument("--images-per-record", type=positive_int, default=1, help="images drawn per record (default 1)")
    p.add_argument("--image-prefix", default="",
                   help="variant folder inside each source folder (e.g. aug_3x4), so several render configurations "
                        "can share one image root")
    p.add_argument("--workers", type=positive_int, default=1, help="render processes (--render)")
    p.add_argument("--chunk-size", type=positive_int, default=1000, help="records per resumable chunk")
    p.add_argument("--llm-url", help="OpenAI-compatible base URL (…/v1): rewrite + quality filter")
    p.add_argument("--llm-model", help="model name for --llm-url (key from LLAVA_ECG_LLM_KEY or OPENAI_API_KEY)")
    p.add_argument("--llm-threshold", type=float_range(0, 5), default=3.0, help="drop pairs scored below this (0-5)")
    p.add_argument("--llm-concurrency", type=positive_int, default=8, help="LLM requests in flight (default 8)")
    _register_synth(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_build_instruct)


def _register_synth(p) -> None:
    g = p.add_argument_group("LLM synthesis (PULSE Figs A5-A8; off by default: the build stays offline)")
    g.add_argument("--synth-url", help="OpenAI-compatible base URL (…/v1) of the generator, e.g. vLLM")
    g.add_argument("--synth-model", help="generator model, e.g. meta-llama/Meta-Llama-3-70B-Instruct")
    g.add_argument("--synth-key-env", metavar="NAME", help="environment variable holding the generator's key")
    g.add_argument("--judge-url", help="base URL of the independent judge (default: --synth-url)")
    g.add_argument("--judge-model", help="judge model; must differ from --synth-model")
    g.add_argument("--judge-key-env", metavar="NAME", help="environment variable holding the judge's key")
    g.add_argument("--judge-threshold", type=float_range(0, 5), default=3.0,
                   help="items scored below this go to review (default 3)")
    g.add_argument("--allow-same-judge", action="store_true",
                   help="let the generator's own model judge (not independent; warns loudly)")
    g.add_argument("--synth-tasks", type=int_range(0), default=3, metavar="N", help="Fig A5 tasks per record")
    g.add_argument("--synth-dialogues", type=int_range(0), default=1, metavar="N", help="Fig A6 dialogues per record")
    g.add_argument("--no-synth-reports", action="store_true", help="no Fig A7 report revision/translation")
    g.add_argument("--synth-framings", help="weights, e.g. direct=2,er_scenario=1 (default: all equal)")
    g.add_argument("--synth-formats", help="weights, e.g. json=1,table=1,list=2 (default: all equal)")
    g.add_argument("--synth-temperature", type=float_range(0, 2), default=0.7, help="generator sampling temperature")
    g.add_argument("--synth-concurrency", type=positive_int, default=8, help="requests in flight per endpoint")
    g.add_argument("--synth-price", metavar="IN,OUT", help="USD per 1M prompt,completion tokens, for the summary")


def _weights_arg(text: str | None, flag: str) -> dict[str, float] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise LlavaEcgError(f"{flag} {text!r}: expected NAME=WEIGHT[,NAME=WEIGHT...]") from None
    return out


def _synthesizer(args):
    """The Synthesizer the --synth-* options describe, or None."""
    import os

    if not args.synth_url:
        return None
    from llava_ecg.llm.client import ChatClient, LLMConfig

    from .synth import SynthConfig, Synthesizer

    if not args.synth_model or not args.judge_model:
        raise LlavaEcgError("--synth-url needs --synth-model and --judge-model (an independent judge, PULSE Fig. A8)")

    def key(env_name):
        if env_name is None:
            return None
        if not os.environ.get(env_name):
            raise LlavaEcgError(f"{env_name}: that environment variable is not set or empty")
        return os.environ[env_name]

    price_in = price_out = None
    if args.synth_price:
        try:
            price_in, price_out = (float(x) for x in args.synth_price.split(","))
        except ValueError:
            raise LlavaEcgError(f"--synth-price {args.synth_price!r}: expected IN,OUT (USD per 1M tokens)") from None
    cache = str(Path(args.output) / "llm_cache")
    generator = ChatClient(LLMConfig.from_env(base_url=args.synth_url, model=args.synth_model, cache_dir=cache,
                                              api_key=key(args.synth_key_env), concurrency=args.synth_concurrency))
    judge = ChatClient(LLMConfig.from_env(base_url=args.judge_url or args.synth_url, model=args.judge_model,
                                          cache_dir=cache, api_key=key(args.judge_key_env),
                                          concurrency=args.synth_concurrency))
    config = SynthConfig(seed=args.seed, tasks_per_record=args.synth_tasks, dialogues_per_record=args.synth_dialogues,
                         revise_reports=not args.no_synth_reports,
                         framings=_weights_arg(args.synth_framings, "--synth-framings"),
                         formats=_weights_arg(args.synth_formats, "--synth-formats"),
                         temperature=args.synth_temperature, judge_threshold=args.judge_threshold,
                         price_in=price_in, price_out=price_out, allow_same_judge=args.allow_same_judge)
    return Synthesizer(generator, judge, config, progress=not args.no_progress)


def _register_bench(bsub) -> None:
    from_subsets = ("ptb-test", "ptb-test-report", "code15-test", "cpsc-test", "g12-test-no-cot", "csn-test-no-cot",
                    "ecgqa-test")
    p = bsub.add_parser("bench", help="ECGBench-format test sets from your own records",
                        description="Rows in the exact ECGBench schema and prompt wording; evaluate them with "
                                    "`lmms-eval --tasks ecgbench` (ECGBENCH_ROOT=OUTPUT).")
    p.add_argument("--source", required=True, choices=SOURCE_CHOICES, help="dataset kind of --root")
    p.add_argument("--root", required=True, help="dataset root (ECG-QA: the ecg-qa folder; then also --ptbxl-root)")
    p.add_argument("--ptbxl-root", help="PTB-XL root for ecgqa-test images")
    p.add_argument("-o", "--output", required=True, type=output_path, help="output folder")
    p.add_argument("--subset", action="append", choices=from_subsets,
                   help="subset(s) to build (default: every subset of --source)")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                   help="PTB-XL/ECG-QA split to draw from (default test = strat_fold 10)")
    p.add_argument("--patient-split", action="store_true",
                   help="sources without an official split: keep 1 patient in 10 (stable hash) as test")
    p.add_argument("--limit", type=positive_int, help="seeded random sample of N records (ptb-test-report default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the renders (default 0)")
    p.add_argument("--no-images", action="store_true", help="write rows and manifest only")
    p.add_argument("--layout", default="3x4", type=_one_layout, help="image layout (default 3x4)")
    p.add_argument("--distort", default="none", choices=("none", "light", "heavy"),
                   help="distortion preset (default none, as ECGBench)")
    p.add_argument("--workers", type=positive_int, default=1, help="render processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_build_bench)


# --- handlers -------------------------------------------------------------------------------------------------
def _records_for(args, split):
    from .sources import iter_ecgqa_records, iter_source

    if args.source == "ecgqa":
        if not args.ptbxl_root:
            raise LlavaEcgError("--source ecgqa needs --ptbxl-root (where the PTB-XL records are)")
        return iter_ecgqa_records(args.root, args.ptbxl_root, split=split or "train", limit=args.limit)
    return iter_source(args.source, args.root, split=split, limit=args.limit)


def _synthetic_records(n: int, seed: int, records_root: Path):
    """Synthetic ECGs, also written as WFDB records under ``records_root`` so on-the-fly rows can be trained on
    (records root = ``OUT/records``)."""
    from llava_ecg.signals.synthetic import synthetic_dataset
    from llava_ecg.signals.writers import write_wfdb

    for ecg in synthetic_dataset(n, seed=seed):
        ref = ecg.meta["id"]
        if not (records_root / f"{ref}.hea").is_file():
            write_wfdb(ecg, records_root / ref)
        yield ref, ecg


def _input_name(args) -> str:
    if getattr(args, "synthetic", None) is not None:
        return f"--synthetic {args.synthetic}"
    return f"--root {args.root} (--source {args.source})"


def _why_empty(records: int, failed: list, excluded: int = 0, skipped: int = 0) -> str:
    parts = [f"{records} records read"]
    if failed:
        parts.append(f"{len(failed)} unreadable (e.g. {failed[0][0]}: {failed[0][1]})")
    if excluded:
        parts.append(f"{excluded} excluded")
    if skipped:
        parts.append(f"{skipped} skipped")
    return ", ".join(parts)


def cmd_build_instruct(args) -> int:
    from llava_ecg.atomic import new_output_dir

    from .build import BuildConfig, build_instruct, parse_mix
    from .decontam import load_keys

    if args.synthetic is None and not args.root:
        raise LlavaEcgError("--root is required with --source")
    if args.synthetic is None and not Path(args.root).exists():
        raise LlavaEcgError(f"--root {args.root}: no such file or folder")
    if args.llm_url and not args.llm_model:
        raise LlavaEcgError("--llm-url needs --llm-model")
    exclude = frozenset(load_keys(args.exclude))  # read (and checked) before anything is written
    mix = parse_mix(args.mix)
    synth = _synthesizer(args)
    if synth is not None and not synth.judge_independent:
        print(f"WARNING: NOT INDEPENDENT: the judge {args.judge_model!r} is the generator's model; its scores are "
              "not an independent quality check (PULSE Fig. A8)", file=sys.stderr)
    resumable: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
    if synth is not None:
        from .synth import SynthIncomplete
        resumable += (SynthIncomplete,)  # its finished chunks and cached answers are kept for the rerun
    # a killed build keeps its chunks to resume; a build that fails on its input leaves no new folder behind
    with new_output_dir(args.output, keep_on=resumable) as out:
        if args.synthetic is not None:
            records = _synthetic_records(args.synthetic, args.seed, out / "records")
            source = "synthetic"
        else:
            split = args.split or ("train" if args.source in OFFICIAL_SPLIT else None)
            records = _records_for(args, None if split == "all" else split)
            source = args.source if args.source != "challenge" else None
        llm = None
        if args.llm_url:
            from .rewrite import LLMRefiner

            llm = LLMRefiner.from_url(args.llm_url, args.llm_model, cache_dir=out / "llm_cache",
                                      concurrency=args.llm_concurrency, threshold=args.llm_threshold,
                                      progress=not args.no_progress)
        cfg = BuildConfig(
            source=source, seed=args.seed, samples_per_record=args.samples_per_record, mix=mix,
            targets=args.targets, mode=args.mode, render_mix=_render_mix(args.render_mix),
            layouts=tuple(args.layouts) if args.layouts else None, distort=args.distort,
            header_prob=args.header_prob, images_per_record=args.images_per_record, image_prefix=args.image_prefix,
            chunk_size=args.chunk_size, shard=args.shard, exclude=exclude, workers=args.workers,
            progress=not args.no_progress, translate_reports=llm is not None)
        result = build_instruct(records, out, cfg, llm=llm, synth=synth)
        if result.rows == 0:
            raise LlavaEcgError(f"no rows built from {_input_name(args)}: "
                                + _why_empty(result.records + len(result.failed), result.failed, result.excluded))
    print(f"{result.rows} rows from {result.records} records -> {result.out_dir}"
          f" (resumed chunks: {result.skipped_chunks}, excluded records: {result.excluded},"
          f" unreadable records: {len(result.failed)})")
    for key in ("summary_md", "targets_md", "llm_summary_md"):
        if result.files.get(key):
            print(result.files[key].read_text(encoding="utf-8"))
    if result.files.get("review"):
        print(f"rejected synthesised items for review: {result.files['review']} (re-admit: llava-ecg readmit)")
    return 0


def cmd_readmit(args) -> int:
    from .synth.review import admitted_ids, readmit

    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else admitted_ids(args.from_file)
    if not ids:
        where = f"--from {args.from_file}" if args.from_file else "--ids"
        raise LlavaEcgError(f"nothing to re-admit: {where} names no ids (entries marked \"decision\": \"admit\")")
    counts = readmit(args.output, ids, reviewer=args.reviewer)
    print(f"re-admitted {counts['admitted']} items ({counts['already']} were already) into {args.output}")
    return 0


def _render_mix(value: str):
    """'fixed' -> None, a name -> itself, a path -> its JSON object."""
    if value == "fixed":
        return None
    path = Path(value)
    if path.suffix == ".json" or path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LlavaEcgError(f"--render-mix {value}: cannot read a JSON object: {exc}") from None
    return value


def cmd_build_bench(args) -> int:
    from llava_ecg.atomic import new_output_dir

    from .bench import build_bench, check_subset_source, subsets_of_source

    if not Path(args.root).exists():
        raise LlavaEcgError(f"--root {args.root}: no such file or folder")
    if args.subset:
        for name in args.subset:
            check_subset_source(name, args.source)
        subsets = list(dict.fromkeys(args.subset))
    else:
        subsets = subsets_of_source(args.source)
        if not subsets:
            raise LlavaEcgError(f"no ECGBench subset is built from --source {args.source}; pick --subset")
    built = 0
    with new_output_dir(args.output):
        for name in subsets:
            split = None if args.split == "all" else args.split
            if args.source not in OFFICIAL_SPLIT:
                split = None
            records = _records_for(argparse.Namespace(**{**vars(args), "limit": None}), split)
            info = build_bench(name, records, args.output, seed=args.seed, limit=args.limit,
                               render=not args.no_images, layout=args.layout, distort=args.distort,
                               workers=args.workers, patient_split=args.patient_split, progress=not args.no_progress,
                               source=args.source, write_empty=False)
            if not info["rows"]:
                why = _why_empty(info["read"], info["failed"], skipped=info["skipped"])
                if args.subset:
                    raise LlavaEcgError(f"{name}: no rows from --root {args.root} (--source {args.source}): {why}")
                print(f"{name}: no rows ({why}); nothing written", file=sys.stderr)
                continue
            built += 1
            print(f"{name}: {info['rows']} rows from {info['records']} records ({info['skipped']} records skipped,"
                  f" {len(info['failed'])} unreadable) -> {info['files']['rows']}")
            for ref, error in info["failed"][:10]:
                print(f"  unreadable: {ref}: {error}", file=sys.stderr)
        if not built:
            raise LlavaEcgError(f"no rows for any of {', '.join(subsets)} from --root {args.root} "
                                f"(--source {args.source})")
    return 0


def cmd_validate(args) -> int:
    from .validate import validate_rows

    report = validate_rows(args.file, image_root=args.image_root, progress=not args.no_progress)
    if report.rows == 0:
        raise LlavaEcgError(f"{args.file}: no rows (an empty file or an empty JSON array)")
    print(f"{report.rows} rows, {report.invalid_rows} invalid, {report.missing_images} missing images, "
          f"{report.duplicate_ids} duplicate rows")
    for problem, n in report.problems.most_common():
        print(f"  {n:>9}  {problem}")
    for example in report.examples[:10]:
        print(f"  e.g. {example}")
    print(f"{'source':<16} {'subtask':<12} {'type':<20} {'rows':>9}")
    for (source, subtask, kind), n in sorted(report.counts.items()):
        print(f"{source:<16} {subtask:<12} {kind:<20} {n:>9}")
    if args.json_out:
        from . import io as rio
        with rio.atomic_open(args.json_out) as fh:
            json.dump(report.as_dict(), fh, indent=1)
    if args.image_root and report.on_the_fly_rows:
        print(f"note: --image-root {args.image_root}: {report.on_the_fly_rows} on-the-fly rows (with a render spec) "
              "have no image file to check", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_select(args) -> int:
    from .select import SelectError, ablation_selections, select, selection

    chosen = [s for table in args.ablation for s in ablation_selections(table)]
    if args.sources:
        formats = [f.strip() for f in (args.formats or "").split(",") if f.strip()]
        chosen.append(selection(args.name, args.sources, args.tasks, formats))
    if not chosen:
        raise SelectError("nothing to select: give --ablation table5|table6 and/or --sources")
    from llava_ecg.atomic import new_output_dir

    with new_output_dir(args.output):  # an empty or unreadable input leaves no folder of empty arrays behind
        info = select(args.file, chosen, args.output, progress=not args.no_progress)
        total = sum(info["input"].values())
        if not total:
            raise SelectError(f"{args.file}: no rows (an empty file or an empty JSON array)")
        if not any(info["written"].values()):
            raise SelectError(f"no row of {args.file} matches {', '.join(info['written'])}")
    print(f"{total} rows read from {args.file}")
    print(f"{'source':<14} {'subtask':<11} {'type':<18} {'rows':>9}")
    for (source, task, fmt), n in sorted(info["input"].items()):
        print(f"{source:<14} {task:<11} {fmt:<18} {n:>9}")
    for name, n in info["written"].items():
        print(f"{name}: {n} rows -> {info['files'][name]}")
    return 0


def cmd_decontam(args) -> int:
    from .decontam import decontamination_report

    report = decontamination_report(args.train, args.test, ptbxl_database=args.ptbxl_database, out=args.output)
    print(f"train: {report['train_records']} records")
    for t in report["tests"]:
        print(f"{t['test']}: {t['overlap_records']}/{t['test_records']} test records also in train "
              f"({100 * t['overlap_fraction']:.2f}%), patients shared: {t['overlap_patients']}/{t['test_patients']}")
    return 1 if any(t["overlap_records"] for t in report["tests"]) else 0
