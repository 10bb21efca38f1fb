"""The ``llava-ecg`` command.

Each stage owns its subcommands in ``llava_ecg/<stage>/commands.py`` with a ``register(subparsers)``
function; this module only collects them, so adding a command never touches another stage's code.
Stage modules are imported lazily enough that ``llava-ecg --help`` stays fast (no torch import).
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "llava_ecg.doctor",
    "llava_ecg.signals.commands",
    "llava_ecg.render.commands",
    "llava_ecg.instruct.commands",
    "llava_ecg.train.commands",
    "llava_ecg.eval.commands",
    "llava_ecg.eval.lmms.commands",
    "llava_ecg.quickstart.commands",
)


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts that must be >= 1 (shared by the stages' commands)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llava-ecg",
        description="Teach multimodal LLMs to read ECG images (PULSE / ECGInstruct / ECGBench) "
        "on unmodified upstream LLaVA and lmms-eval.",
    )
    from llava_ecg import __version__

    parser.add_argument("--version", action="version", version=f"llava-ecg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):  # stage without commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except BrokenPipeError:  # `llava-ecg info X | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
