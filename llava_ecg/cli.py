"""The ``llava-ecg`` command.

Each stage owns its subcommands in ``llava_ecg/<stage>/commands.py`` with a ``register(subparsers)``
function; this module only collects them, so adding a command never touches another stage's code.
Stage modules are imported lazily enough that ``llava-ecg --help`` stays fast (no torch import).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from llava_ecg.argtypes import positive_int  # noqa: F401  (kept importable from here)
from llava_ecg.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, LlavaEcgError

COMMAND_MODULES = (
    "llava_ecg.doctor",
    "llava_ecg.signals.commands",
    "llava_ecg.render.commands",
    "llava_ecg.instruct.commands",
    "llava_ecg.train.commands",
    "llava_ecg.eval.commands",
    "llava_ecg.eval.lmms.commands",
    "llava_ecg.export.commands",
    "llava_ecg.quickstart.commands",
)


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
        importlib.import_module(name).register(sub)
    return parser


def _add_debug_flags(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on every (sub)command, so it works before or after the command name; remember each command's
    full name (``llava-ecg build instruct``) for the error line."""
    if "--debug" not in parser._option_string_actions:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show the full traceback on errors (also: LLAVA_ECG_DEBUG=1)")
    parser.set_defaults(_prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share one parser
                _add_debug_flags(child)


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error ends here as one line on stderr and an exit code (see ``llava_ecg.errors``)."""
    parser = build_parser()
    _add_debug_flags(parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    debug = getattr(args, "debug", False) or os.environ.get("LLAVA_ECG_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `llava-ecg validate X | head`: the reader left, nothing is wrong
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return _fail(args, "interrupted", EXIT_INTERRUPTED, debug)
    except LlavaEcgError as exc:
        return _fail(args, str(exc), exc.exit_code, debug)
    except OSError as exc:  # a path the user gave: missing, a folder, no permission, already there
        code = EXIT_USAGE if exc.filename is not None else EXIT_FAILED
        return _fail(args, _os_message(exc), code, debug)
    except ValueError as exc:  # a bad value not (yet) raised as a LlavaEcgError: still one line, not a traceback
        return _fail(args, f"{exc} (--debug shows where)", EXIT_FAILED, debug)


def _fail(args: argparse.Namespace, message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    message = " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    print(f"{getattr(args, '_prog', 'llava-ecg')}: error: {message}", file=sys.stderr)
    return code


def _os_message(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    if exc.filename is None:
        return what
    target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else str(exc.filename)
    return f"{target}: {what.lower() if what[:1].isupper() and what[1:2].islower() else what}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise a second BrokenPipeError."""
    try:
        sys.stdout.flush()
        return  # stdout itself is fine (the closed pipe was another stream)
    except BrokenPipeError:
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by a non-file object (tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
