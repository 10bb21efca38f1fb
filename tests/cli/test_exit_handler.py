"""The one place that turns errors into exit codes and one line on stderr (``llava_ecg.cli.main``)."""
from __future__ import annotations

import argparse
import errno

import pytest

from llava_ecg import cli
from llava_ecg.errors import LlavaEcgError, RunFailed


def _parser_raising(exc: BaseException):
    def build_parser():
        parser = argparse.ArgumentParser(prog="llava-ecg")
        sub = parser.add_subparsers(dest="command")
        child = sub.add_parser("boom")
        group = child.add_subparsers(dest="what")
        leaf = group.add_parser("now")

        def run(args):
            raise exc
        leaf.set_defaults(func=run)
        return parser
    return build_parser


@pytest.mark.parametrize("exc,code,line", [
    (LlavaEcgError("rows.jsonl: line 3 is not JSON"), 2, "llava-ecg boom now: error: rows.jsonl: line 3 is not JSON"),
    (RunFailed("training failed (exit 1); see out/train.log"), 1,
     "llava-ecg boom now: error: training failed (exit 1); see out/train.log"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "in.jsonl"), 2,
     "llava-ecg boom now: error: in.jsonl: no such file or directory"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "some/dir"), 2, "llava-ecg boom now: error: some/dir: is a directory"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "llava-ecg boom now: error: No space left on device"),
    (LlavaEcgError("first line\n  second line"), 2, "llava-ecg boom now: error: first line second line"),
    (KeyboardInterrupt(), 130, "llava-ecg boom now: error: interrupted"),
    (ValueError("weight must be >= 0"), 1, "llava-ecg boom now: error: weight must be >= 0 (--debug shows where)"),
])
def test_errors_become_one_line_and_an_exit_code(monkeypatch, capsys, exc, code, line):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(exc))
    monkeypatch.delenv("LLAVA_ECG_DEBUG", raising=False)
    assert cli.main(["boom", "now"]) == code
    err = capsys.readouterr().err
    assert err == line + "\n"


def test_debug_shows_the_traceback_before_or_after_the_command(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(LlavaEcgError("bad input")))
    for argv in (["--debug", "boom", "now"], ["boom", "now", "--debug"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and err.rstrip().endswith("error: bad input")


def test_a_closed_pipe_is_quiet_success(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    assert cli.main(["boom", "now"]) == 0
    assert capsys.readouterr().err == ""


def test_unexpected_exceptions_are_bugs_and_keep_their_traceback(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["boom", "now"])


def test_every_real_command_accepts_debug():
    parser = cli.build_parser()
    cli._add_debug_flags(parser)
    for argv in (["validate", "x.jsonl", "--debug"], ["build", "instruct", "--debug", "-o", "o"]):
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # a command's own required options; --debug itself must not be the problem
            continue
        assert args.debug is True
