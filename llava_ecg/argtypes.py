"""argparse ``type=`` functions shared by every command, so a bad value is refused by the parser (exit code 2) with
the valid range or names, the same way everywhere."""
from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable


def _number(text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """Whole numbers in ``[low, high]`` (either end open when ``None``)."""
    def parse(text: str) -> int:
        value = _number(text, int)
        _check(value, low, high)
        return value
    parse.__name__ = "whole number"  # argparse names the type in its "invalid ... value" message
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False) -> Callable[[str], float]:
    """Finite numbers in ``[low, high]``; ``low_open=True`` excludes ``low`` itself (e.g. a sampling rate > 0)."""
    def parse(text: str) -> float:
        value = _number(text, float)
        if low_open and low is not None and value <= low:
            raise argparse.ArgumentTypeError(f"must be greater than {low:g}, got {text}")
        _check(value, low, high)
        return value
    parse.__name__ = "number"
    return parse


def _check(value, low, high) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {value:g}")
    if low is not None and value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low:g}, got {value:g}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {value:g}")


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0.0, low_open=True)
non_negative_float = float_range(0.0)
probability = float_range(0.0, 1.0)


Names = Iterable[str] | Callable[[], Iterable[str]]


def _known(names: Names) -> list[str]:
    return sorted(names() if callable(names) else names)


def one_of(names: Names, what: str = "name") -> Callable[[str], str]:
    """A single name from ``names`` (for lists too long or too dynamic for ``choices=``). ``names`` may be a
    function, called only when the option is parsed (so ``--help`` need not import the registry)."""
    def parse(text: str) -> str:
        known = _known(names)
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; known: {', '.join(known)}")
        return text
    parse.__name__ = what
    return parse


def comma_list(names: Names, what: str = "name") -> Callable[[str], list[str]]:
    """A comma-separated list whose every item is one of ``names``; an empty list is refused."""
    def parse(text: str) -> list[str]:
        known = _known(names)
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}s; known: {', '.join(known)}")
        unknown = [t for t in items if t not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(map(repr, unknown))}; "
                                             f"known: {', '.join(known)}")
        return items
    parse.__name__ = f"{what} list"
    return parse


def output_path(text: str) -> str:
    """An output folder: new, or an existing folder (never an existing file)."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    return text


def existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: {'not a folder' if os.path.exists(text) else 'no such folder'}")
    return text


def existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text}: {'not a file' if os.path.exists(text) else 'no such file'}")
    return text


def parse_shard(text: str | tuple | None) -> tuple[int, int]:
    """``"2/8"`` or ``(2, 8)`` -> (2, 8): shard ``I`` of ``N``, 0-based, ``0 <= I < N`` (``None``: the whole set).
    Raises ``ValueError``; as an argparse ``type=`` use :func:`shard`."""
    if text is None:
        return 0, 1
    try:
        i, n = text if isinstance(text, tuple) else (int(x) for x in str(text).split("/"))
        i, n = int(i), int(n)
    except (TypeError, ValueError):
        raise ValueError(f"shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard index must satisfy 0 <= I < N, got {i}/{n}")
    return i, n


def shard(text: str) -> tuple[int, int]:
    """``--shard I/N``."""
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
