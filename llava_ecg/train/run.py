"""Training entry point, usable under every launcher:

    llava-ecg train RECIPE [key=value ...] [--upstream_flag value ...]
    python -m llava_ecg.train.run RECIPE [key=value ...]
    torchrun --nproc_per_node 8 -m llava_ecg.train.run RECIPE [key=value ...]
    deepspeed --module llava_ecg.train.run RECIPE [key=value ...]      # adds --local_rank=N itself
    deepspeed $(python -c 'import llava_ecg.train.run as m; print(m.__file__)') --model_name_or_path ...

Without a recipe (first argument a ``--flag``) the arguments are upstream ``llava/train/train.py``'s own,
so an existing LLaVA shell script works by swapping the script path. Either way the process applies
``llava_ecg.compat``, installs the plugin into ``llava.train.train`` and calls upstream ``train()``.
"""
from __future__ import annotations

import importlib.util
import os
import sys

from llava_ecg.train.recipe import RecipeError, apply_overrides, find_recipe, load_recipe, to_argv


def build_command(args: list[str]) -> tuple[list[str], dict, dict | None]:
    """(upstream argv, launcher options, resolved recipe or None) for our command line."""
    if not args or args[0].startswith("-"):
        return list(args), {}, None
    recipe_path = find_recipe(args[0])
    overrides = [a for a in args[1:] if "=" in a and not a.startswith("-")]
    passthrough = [a for a in args[1:] if a not in overrides]
    config = apply_overrides(load_recipe(recipe_path), overrides)
    argv, launcher = to_argv(config)
    return argv + passthrough, launcher, {"recipe": str(recipe_path), **config}


def _is_main_process() -> bool:
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) in ("0", "-1")


def _record_recipe(argv: list[str], resolved: dict) -> None:
    import yaml

    out = _flag(argv, "output_dir")
    if out is None:
        return
    from llava_ecg.atomic import atomic_open

    with atomic_open(os.path.join(out, "llava_ecg_recipe.yaml")) as fh:
        yaml.safe_dump(resolved, fh, sort_keys=False)


def check_attention(attn: str | None) -> None:
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise RecipeError("attn_implementation=flash_attention_2 needs the flash-attn package "
                          "(pip install 'llava-ecg[gpu]'); on CPU or without it pass attn_implementation=sdpa")


# Upstream defaults model_name_or_path to facebook/opt-125m (a hub download, then a confusing failure offline) and
# data_path to None (a TypeError deep in the dataset); a recipe run names what is missing instead.
REQUIRED = ("model_name_or_path", "data_path", "output_dir")


def check_required(argv: list[str], recipe: str) -> None:
    given = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--")}
    missing = [k for k in REQUIRED if k not in given]
    if missing:
        raise RecipeError(f"recipe {recipe} does not set {', '.join(missing)}; pass "
                          + " ".join(f"{k}=..." for k in missing))


def _flag(argv: list[str], name: str) -> str | None:
    value = None
    for i, arg in enumerate(argv):  # the last one wins, as in upstream's argument parser
        if arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def check_inputs(argv: list[str]) -> None:
    """The data file and image folder exist: checked before anything is written or upstream loads a model."""
    data = _flag(argv, "data_path")
    if data and not os.path.isfile(data):
        raise RecipeError(f"data_path={data}: {'not a file' if os.path.exists(data) else 'no such file'}")
    images = _flag(argv, "image_folder")
    if images and not os.path.isdir(images):
        raise RecipeError(f"image_folder={images}: {'not a folder' if os.path.exists(images) else 'no such folder'}")
    out = _flag(argv, "output_dir")
    if out and os.path.exists(out) and not os.path.isdir(out):
        raise RecipeError(f"output_dir={out}: exists and is not a folder")


def _true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes", "y")


def adapt_to_cpu(argv: list[str], say=print) -> list[str]:
    """On a machine without CUDA, the two GPU-only settings of upstream's scripts (finetune.sh passes both) would
    stop the run: ``--tf32 True`` raises in ``TrainingArguments`` ("requires Ampere or a newer GPU") though it only
    selects a CUDA matmul mode, and a DeepSpeed run first JIT-compiles a CPU shared-memory op for minutes. Turn
    tf32 off and skip the op (``llava_ecg.compat.skip_cpu_shm_op``), one line each."""
    import torch

    if torch.cuda.is_available():
        return argv
    if _true(_flag(argv, "tf32")):
        argv = argv + ["--tf32", "False"]
        say("llava-ecg: no CUDA device: --tf32 True (a CUDA matmul mode) is ignored on CPU", flush=True)
    if _flag(argv, "deepspeed"):
        from llava_ecg.compat import skip_cpu_shm_op

        if skip_cpu_shm_op():
            say("llava-ecg: CPU DeepSpeed run: DeepSpeed's optional shared-memory collective op is not compiled "
                "(1-7 min on a fresh machine); collectives use gloo. LLAVA_ECG_DEEPSPEED_SHM=1 builds it.", flush=True)
    return argv


def seed_before_model(argv: list[str]) -> int:
    """Seed Python, NumPy and torch with the run's ``--seed`` before upstream builds the model.

    Upstream ``train()`` seeds only when it creates the Trainer, after ``initialize_vision_modules`` has drawn the
    projector's random init from torch's global generator, which current torch seeds randomly per process: two runs
    of one seed started from different projectors (the quickstart's run-to-run spread of up to 13 points)."""
    from transformers import set_seed

    seed = int(_flag(argv, "seed") or 42)  # TrainingArguments' default
    set_seed(seed)
    return seed


def run(args: list[str]) -> int:
    argv, launcher, resolved = build_command(args)
    attn = launcher.get("attn_implementation")
    check_attention(attn)
    if resolved is not None:
        check_required(argv, resolved["recipe"])
        check_inputs(argv)
    from llava_ecg import compat

    compat.install()
    argv = adapt_to_cpu(argv, say=print if _is_main_process() else lambda *a, **k: None)
    from llava.train import train as upstream

    from llava_ecg.train.plugin import install

    install()
    out = _flag(argv, "output_dir")
    created = out is not None and not os.path.exists(out)
    if resolved is not None and _is_main_process():
        _record_recipe(argv, resolved)
        print("llava-ecg: upstream llava.train.train " + " ".join(argv), flush=True)
    seed_before_model(argv)
    sys.argv = [upstream.__file__] + argv
    try:
        upstream.train(attn_implementation=attn)
    except BaseException:
        if created and _is_main_process():
            _remove_if_only_recipe(out)
        raise
    return 0


def _remove_if_only_recipe(out: str) -> None:
    """A run that failed before writing anything but our recipe copy leaves no output folder; one with
    checkpoints keeps them (they resume)."""
    import shutil

    try:
        if {p.name for p in os.scandir(out)} <= {"llava_ecg_recipe.yaml"}:
            shutil.rmtree(out, ignore_errors=True)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except RecipeError as exc:
        print(f"llava-ecg train: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
