"""``llava-ecg train``: recipe -> upstream ``llava.train`` (imports stay lazy for ``--help``)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _train(args) -> int:
    from llava_ecg.train.run import build_command, run

    overrides = [a for a in args.overrides if a != "--dry-run"]  # REMAINDER swallows a trailing flag
    dry_run = args.dry_run or len(overrides) != len(args.overrides)
    rest = [args.recipe, *overrides]
    if dry_run:
        argv, launcher, _ = build_command(rest)
        print("python -m llava_ecg.train.run " + " ".join(argv))
        if launcher:
            print(f"# launcher options: {launcher}")
        return 0
    return run(rest)  # RecipeError (a LlavaEcgError) ends in cli.main as one line, exit code 2


def _merge(args) -> int:
    from llava_ecg.train.merge import merge_lora

    out = merge_lora(args.lora_dir, args.base, args.output, device=args.device)
    print(f"merged checkpoint: {out}")
    return 0


def _tiny(args) -> int:
    from llava_ecg.errors import LlavaEcgError
    from llava_ecg.tiny import build_tiny_base, build_tiny_checkpoint

    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise LlavaEcgError(f"-o {args.output}: exists and is not a folder")
    if args.checkpoint:
        path = build_tiny_checkpoint(args.output, seed=args.seed, preset=args.preset)
        print(f"tiny llava_llama checkpoint: {path}")
        return 0
    base = build_tiny_base(args.output, seed=args.seed, preset=args.preset)
    print(f"tiny base ({args.preset}): LLM {base.llm_dir}, vision tower {base.clip_dir}")
    print(f"train it: llava-ecg train tiny/cpu model_name_or_path={base.llm_dir} vision_tower={base.clip_dir} "
          "data_path=ROWS image_folder=IMAGES output_dir=OUT")
    return 0


def _export_data(args) -> int:
    from llava_ecg.train.stacks.export import export_data

    summary = export_data(args.rows, args.output, args.format, name=args.name, image_root=args.image_root,
                          records_root=args.records_root, workers=args.workers, chunk_rows=args.chunk_rows,
                          strict=args.strict, progress=not args.no_progress, embed_images=args.embed_images)
    print(summary.text())
    return 0


def _register_export(subparsers) -> None:
    from llava_ecg.argtypes import existing_dir, int_range

    e = subparsers.add_parser(
        "export-data", help="ECGInstruct-schema rows -> LLaMA-Factory, TRL or ms-swift training data",
        description="Convert ECGInstruct-schema rows (a build's ecginstruct.jsonl, on-the-fly rows included, or the "
                    "released ECGInstruct.json as is) into another training stack's format, streaming. On-the-fly "
                    "rows get their pages drawn into OUTPUT/images (in --workers processes; a rerun reuses the "
                    "pages already there). See docs/training.md, 'Training with other stacks'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  llava-ecg export-data out/ptbxl/ecginstruct.jsonl --format trl --records-root "
               "/data/ptb-xl -o hf/ptbxl --workers 8\n"
               "  llava-ecg export-data ECGInstruct.json --format swift --image-root /data/ecginstruct -o swift/\n"
               "  llava-ecg export-data ECGInstruct.json --format llamafactory --image-root /data/ecginstruct "
               "-o LLaMA-Factory/data")
    e.add_argument("rows", help="row file: JSON array or JSONL")
    e.add_argument("--format", required=True, choices=("llamafactory", "trl", "swift"), help="target stack")
    e.add_argument("-o", "--output", required=True, help="output folder (created; an existing one is reused)")
    e.add_argument("--name", default="ecginstruct", help="dataset name: file/folder name and dataset_info key")
    e.add_argument("--image-root", type=existing_dir, help="folder the rows' pre-rendered image paths are relative to")
    e.add_argument("--records-root", type=existing_dir, help="folder the on-the-fly rows' record paths are "
                                                             "relative to (a build's --root)")
    e.add_argument("--workers", type=int_range(1), default=1, help="processes drawing on-the-fly pages")
    e.add_argument("--chunk-rows", type=int_range(1), default=2048, help="rows held in memory at once")
    e.add_argument("--embed-images", action="store_true", help="trl: store the image bytes in the dataset "
                                                                "(default: file paths)")
    e.add_argument("--strict", action="store_true", help="stop at the first row that cannot be exported")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.set_defaults(func=_export_data)


def register(subparsers) -> None:
    _register_export(subparsers)
    p = subparsers.add_parser(
        "train", help="train with upstream LLaVA from a recipe",
        description="Run upstream llava.train.train() with the llava-ecg datasets, anyres collator and chat "
                    "templates plugged in. RECIPE is a YAML file or a name under recipes/ (e.g. "
                    "pulse_7b/full_zero2, tiny/cpu). Multi-GPU: torchrun ... -m llava_ecg.train.run RECIPE ...; "
                    "see docs/training.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  llava-ecg train tiny/cpu model_name_or_path=BASE/llm vision_tower=BASE/clip "
               "data_path=rows.jsonl image_folder=images output_dir=out\n"
               "  llava-ecg train pulse_7b/lora data_path=mix.yaml lora_r=64 --dry-run",
    )
    p.add_argument("recipe", help="recipe YAML path or name")
    p.add_argument("overrides", nargs=argparse.REMAINDER,
                   help="key=value overrides (YAML values; key=null drops a flag) and raw --upstream_flags")
    p.add_argument("--dry-run", action="store_true", help="print the resolved upstream command and exit")
    p.set_defaults(func=_train)

    m = subparsers.add_parser(
        "merge-lora", help="merge a LoRA training run into a full LLaVA checkpoint",
        description="Base model + LoRA run (adapter, non_lora_trainables.bin) -> one checkpoint folder that "
                    "upstream load_pretrained_model and `lmms-eval --model llava_ecg` load directly.")
    m.add_argument("lora_dir", help="output_dir of a lora_enable run")
    m.add_argument("--base", required=True, help="the model_name_or_path the LoRA run started from")
    m.add_argument("-o", "--output", required=True, help="folder for the merged checkpoint")
    m.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    m.set_defaults(func=_merge)

    t = subparsers.add_parser(
        "tiny", help="build the tiny random-init LLaVA (offline) that tiny/cpu trains",
        description="Write a tiny Llama LLM + locally trained tokenizer and a tiny CLIP vision tower (random weights, "
                    "no download) to OUTPUT, and print the `llava-ecg train tiny/cpu` line that starts from them. "
                    "--checkpoint writes a complete llava_llama checkpoint instead (for `llava-ecg eval`).")
    t.add_argument("-o", "--output", required=True, help="folder to write (reused when it already holds one)")
    t.add_argument("--preset", choices=("quickstart", "test"), default="quickstart",
                   help="quickstart: 64x256 strip input, what the quickstart trains (default); test: smallest")
    t.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    t.add_argument("--checkpoint", action="store_true", help="write a full llava_llama checkpoint (OUTPUT/model)")
    t.set_defaults(func=_tiny)
