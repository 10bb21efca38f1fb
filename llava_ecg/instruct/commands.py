"""``llava-ecg build instruct|bench``, ``llava-ecg validate`` and ``llava-ecg decontam``.

Imports stay inside the handlers so ``llava-ecg --help`` does not pay for numpy/scipy/matplotlib.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from llava_ecg.cli import positive_int

SOURCE_CHOICES = ("ptbxl", "mimic", "code15", "ecgqa", "cpsc", "g12", "csn", "challenge", "synthetic", "custom")
OFFICIAL_SPLIT = ("ptbxl", "ecgqa")


def _reported(handler, name: str):
    """Typed input errors (missing folders/files, malformed row files, bad options; all ``ValueError`` or
    ``OSError`` naming the file) end the command with one line on stderr and exit code 1, not a traceback."""
    @functools.wraps(handler)
    def run(args) -> int:
        try:
            return handler(args)
        except (ValueError, OSError) as exc:
            print(f"llava-ecg {name}: error: {exc}", file=sys.stderr)
            return 1
    return run


def register(sub) -> None:
    build = sub.add_parser("build", help="build ECGInstruct-style training data or ECGBench-style test sets")
    bsub = build.add_subparsers(dest="build_command", metavar="WHAT")
    build.set_defaults(func=lambda args: (build.print_help(), 2)[1])
    _register_instruct(bsub)
    _register_bench(bsub)

    p = sub.add_parser("validate", help="check an ECGInstruct JSON/JSONL file row by row (streaming) and count it")
    p.add_argument("file", help="ECGInstruct.json (JSON array) or a .jsonl row file")
    p.add_argument("--image-root", help="check that every row's image exists under this folder")
    p.add_argument("--json", dest="json_out", help="also write the report as JSON here")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reported(cmd_validate, "validate"))

    p = sub.add_parser("decontam", help="count test records/patients that also occur in a training build")
    p.add_argument("--train", required=True, help="training manifest.jsonl (or any ECGInstruct row file)")
    p.add_argument("--test", required=True, nargs="+", help="ECGBench-format JSON(L), bench manifests or record lists")
    p.add_argument("--ptbxl-database", help="ptbxl_database.csv, to compare PTB-XL patients too")
    p.add_argument("-o", "--output", help="write the report as JSON here")
    p.set_defaults(func=_reported(cmd_decontam, "decontam"))


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= I < N")
    return i, n


def _register_instruct(bsub) -> None:
    p = bsub.add_parser("instruct", help="ECGInstruct-format rows (+ manifest, summary table and chart)",
                        description="Build ECGInstruct/LLaVA rows from raw records. Without --llm-url the build is "
                                    "deterministic and offline; --shard I/N outputs union to the full build and a "
                                    "killed build resumes where it stopped.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--source", choices=SOURCE_CHOICES, help="dataset kind of --root")
    src.add_argument("--synthetic", type=int, metavar="N",
                     help="build from N synthetic records instead (also written as WFDB to OUTPUT/records)")
    p.add_argument("--root", help="dataset root (ECG-QA: the ecg-qa folder; then also --ptbxl-root)")
    p.add_argument("--ptbxl-root", help="PTB-XL root holding the records ECG-QA questions refer to")
    p.add_argument("-o", "--output", required=True, help="output folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--on-the-fly", dest="mode", action="store_const", const="on-the-fly",
                      help="rows carry a render spec; the train dataset draws images at load time (default)")
    mode.add_argument("--render", dest="mode", action="store_const", const="render", help="write images/ too")
    p.set_defaults(mode="on-the-fly")
    p.add_argument("--split", choices=("train", "val", "test", "all"),
                   help="records of this split (default: train for PTB-XL/ECG-QA, all otherwise)")
    p.add_argument("--limit", type=positive_int, help="only the first N records")
    p.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N")
    p.add_argument("--exclude", action="append", default=[], metavar="TESTSET",
                   help="leave out records of this test set (ECGBench JSON, manifest or record list); repeatable")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples-per-record", type=positive_int, default=4)
    p.add_argument("--mix", default="balanced",
                   help="'balanced', 'pulse' (Table A1 ratios) or weights like rhythm.mcq=2,report.open=1")
    p.add_argument("--render-mix", default="pulse",
                   help="how images are drawn: 'pulse' (default: the paper's ECGInstruct mix in ECG-Image-Kit's "
                        "look), 'pulse-classic' (same mix, our classic look), 'fixed' (only the flags below, "
                        "classic look) or a JSON file (docs/rendering.md); the flags below override the mix")
    p.add_argument("--layouts", help="comma list to draw from, e.g. 3x4,6x2,12x1 (default: the mix's; fixed: 3x4)")
    p.add_argument("--distort", choices=("none", "light", "heavy", "mixed"),
                   help="default: the mix's (fixed: mixed = clean 0.5, light 0.35, heavy 0.15)")
    p.add_argument("--header-prob", type=float, help="probability of a printed header (default: the mix's; fixed: 0)")
    p.add_argument("--images-per-record", type=positive_int, default=1)
    p.add_argument("--image-prefix", default="",
                   help="variant folder inside each source folder (e.g. aug_3x4), so several render configurations "
                        "can share one image root")
    p.add_argument("--workers", type=positive_int, default=1, help="render processes (--render)")
    p.add_argument("--chunk-size", type=positive_int, default=1000, help="records per resumable chunk")
    p.add_argument("--llm-url", help="OpenAI-compatible base URL (…/v1): rewrite + quality filter")
    p.add_argument("--llm-model", help="model name for --llm-url (key from LLAVA_ECG_LLM_KEY or OPENAI_API_KEY)")
    p.add_argument("--llm-threshold", type=float, default=3.0, help="drop pairs scored below this (0-5)")
    p.add_argument("--llm-concurrency", type=positive_int, default=8)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reported(cmd_build_instruct, "build instruct"))


def _register_bench(bsub) -> None:
    from_subsets = ("ptb-test", "ptb-test-report", "code15-test", "cpsc-test", "g12-test-no-cot", "csn-test-no-cot",
                    "ecgqa-test")
    p = bsub.add_parser("bench", help="ECGBench-format test sets from your own records",
                        description="Rows in the exact ECGBench schema and prompt wording; evaluate them with "
                                    "`lmms-eval --tasks ecgbench` (ECGBENCH_ROOT=OUTPUT).")
    p.add_argument("--source", required=True, choices=SOURCE_CHOICES)
    p.add_argument("--root", required=True, help="dataset root (ECG-QA: the ecg-qa folder; then also --ptbxl-root)")
    p.add_argument("--ptbxl-root", help="PTB-XL root for ecgqa-test images")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--subset", action="append", choices=from_subsets,
                   help="subset(s) to build (default: every subset of --source)")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                   help="PTB-XL/ECG-QA split to draw from (default test = strat_fold 10)")
    p.add_argument("--patient-split", action="store_true",
                   help="sources without an official split: keep 1 patient in 10 (stable hash) as test")
    p.add_argument("--limit", type=positive_int, help="seeded random sample of N records (ptb-test-report default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-images", action="store_true", help="write rows and manifest only")
    p.add_argument("--layout", default="3x4")
    p.add_argument("--distort", default="none", choices=("none", "light", "heavy"))
    p.add_argument("--workers", type=positive_int, default=1)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reported(cmd_build_bench, "build bench"))


# --- handlers -------------------------------------------------------------------------------------------------
def _records_for(args, split):
    from .sources import iter_ecgqa_records, iter_source

    if args.source == "ecgqa":
        if not args.ptbxl_root:
            raise SystemExit("error: --source ecgqa needs --ptbxl-root (where the PTB-XL records are)")
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


def cmd_build_instruct(args) -> int:
    from .build import BuildConfig, build_instruct, parse_mix
    from .decontam import load_keys

    if args.synthetic is None and not args.root:
        print("error: --root is required with --source", file=sys.stderr)
        return 2
    if args.synthetic is not None:
        records = _synthetic_records(args.synthetic, args.seed, Path(args.output) / "records")
        source = "synthetic"
    else:
        split = args.split or ("train" if args.source in OFFICIAL_SPLIT else None)
        records = _records_for(args, None if split == "all" else split)
        source = args.source if args.source != "challenge" else None
    llm = None
    if args.llm_url:
        from .rewrite import LLMRefiner

        if not args.llm_model:
            print("error: --llm-url needs --llm-model", file=sys.stderr)
            return 2
        llm = LLMRefiner.from_url(args.llm_url, args.llm_model, cache_dir=Path(args.output) / "llm_cache",
                                  concurrency=args.llm_concurrency, threshold=args.llm_threshold,
                                  progress=not args.no_progress)
    cfg = BuildConfig(
        source=source, seed=args.seed, samples_per_record=args.samples_per_record, mix=parse_mix(args.mix),
        mode=args.mode, render_mix=_render_mix(args.render_mix),
        layouts=tuple(x.strip() for x in args.layouts.split(",") if x.strip()) if args.layouts else None,
        distort=args.distort, header_prob=args.header_prob, images_per_record=args.images_per_record, image_prefix=args.image_prefix,
        chunk_size=args.chunk_size,
        shard=args.shard, exclude=frozenset(load_keys(args.exclude)), workers=args.workers,
        progress=not args.no_progress, translate_reports=llm is not None)
    result = build_instruct(records, args.output, cfg, llm=llm)
    print(f"{result.rows} rows from {result.records} records -> {result.out_dir}"
          f" (resumed chunks: {result.skipped_chunks}, excluded records: {result.excluded},"
          f" unreadable records: {len(result.failed)})")
    summary = result.files.get("summary_md")
    if summary:
        print(summary.read_text(encoding="utf-8"))
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
            raise ValueError(f"--render-mix {value}: cannot read a JSON object: {exc}") from None
    return value


def cmd_build_bench(args) -> int:
    from .bench import SUBSET_SOURCES, build_bench

    subsets = args.subset or [s for s, src in SUBSET_SOURCES.items() if src == args.source]
    if not subsets:
        print(f"error: no ECGBench subset is built from --source {args.source}; pick --subset", file=sys.stderr)
        return 2
    for name in subsets:
        split = None if args.split == "all" else args.split
        if args.source not in OFFICIAL_SPLIT:
            split = None
        records = _records_for(argparse.Namespace(**{**vars(args), "limit": None}), split)
        info = build_bench(name, records, args.output, seed=args.seed, limit=args.limit, render=not args.no_images,
                           layout=args.layout, distort=args.distort, workers=args.workers,
                           patient_split=args.patient_split, progress=not args.no_progress,
                           source=args.source)
        print(f"{name}: {info['rows']} rows from {info['records']} records ({info['skipped']} records skipped,"
              f" {len(info['failed'])} unreadable) -> {info['files']['rows']}")
        for ref, error in info["failed"][:10]:
            print(f"  unreadable: {ref}: {error}", file=sys.stderr)
    return 0


def cmd_validate(args) -> int:
    from .validate import validate_rows

    report = validate_rows(args.file, image_root=args.image_root, progress=not args.no_progress)
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
    return 0 if report.ok else 1


def cmd_decontam(args) -> int:
    from .decontam import decontamination_report

    report = decontamination_report(args.train, args.test, ptbxl_database=args.ptbxl_database, out=args.output)
    print(f"train: {report['train_records']} records")
    for t in report["tests"]:
        print(f"{t['test']}: {t['overlap_records']}/{t['test_records']} test records also in train "
              f"({100 * t['overlap_fraction']:.2f}%), patients shared: {t['overlap_patients']}/{t['test_patients']}")
    return 1 if any(t["overlap_records"] for t in report["tests"]) else 0
