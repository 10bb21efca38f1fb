"""Atomic writes and streaming readers for row files (JSON arrays and JSONL).

The released ``ECGInstruct.json`` is a 1.34 GB JSON array; :func:`iter_json_array` walks it with
``json.JSONDecoder.raw_decode`` over 1 MiB chunks, so memory stays at one chunk plus one row (ijson is not a
dependency; for this row shape the stdlib decoder is within a few percent of ijson's C backend because the
parsing itself is done by the same C scanner).
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterable, Iterator

from llava_ecg.atomic import atomic_open as _atomic_open
from llava_ecg.errors import LlavaEcgError


_DELIMITERS = frozenset(" \t\r\n,]")


class RowFileError(LlavaEcgError):
    """A row file cannot be read. The message names the file and the position of the defect."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """``llava_ecg.atomic.atomic_open`` with fsync: a finished chunk must survive a crash for resume."""
    return _atomic_open(path, mode, encoding, fsync=True)


def dumps_row(row: dict) -> str:
    """One row as compact, deterministic JSON (key order as built, UTF-8 kept)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(dumps_row(row) + "\n")
            n += 1
    return n


def write_json_array(path, rows: Iterable[dict]) -> int:
    """A JSON array with one row per line (streams; never holds all rows)."""
    n = 0
    with atomic_open(path) as fh:
        fh.write("[")
        for row in rows:
            fh.write(("\n" if n == 0 else ",\n") + dumps_row(row))
            n += 1
        fh.write("\n]\n" if n else "]\n")
    return n


def check_text(path) -> str:
    """The first characters of ``path``; a binary or non-UTF-8 file (an image given by mistake) is a
    :class:`RowFileError` naming it, not a decode error from deep inside a parser."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise RowFileError(path, "a binary file, not JSON/JSONL text")
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a multi-byte character cut by the 4 KiB read
            raise RowFileError(path, f"not UTF-8 text (byte {exc.start}): a binary file?") from None
        return head[:exc.start].decode("utf-8-sig")


def iter_jsonl(path) -> Iterator[dict]:
    check_text(path)
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, line in _numbered_lines(path, fh):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise RowFileError(path, f"line {lineno}: invalid JSON ({exc.msg})") from None


def iter_json_array(path, chunk_size: int = 1 << 20) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array without loading the file."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8-sig") as fh:
        buf, consumed, eof = "", 0, False

        def fill() -> bool:
            nonlocal buf, eof
            chunk = fh.read(chunk_size)
            if not chunk:
                eof = True
                return False
            buf += chunk
            return True

        def skip_ws(i: int) -> int:
            while True:
                while i < len(buf) and buf[i] in " \t\r\n":
                    i += 1
                if i < len(buf) or eof or not fill():
                    return i

        fill()
        pos = skip_ws(0)
        if pos >= len(buf) or buf[pos] != "[":
            raise RowFileError(path, "not a JSON array (expected '[' at the start)")
        pos = skip_ws(pos + 1)
        if pos < len(buf) and buf[pos] == "]":
            return
        index = 0
        while True:
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof or not fill():
                        raise RowFileError(path, f"element {index} (char {consumed + exc.pos}): {exc.msg}") from None
            # A value cut by the chunk edge can still parse ("12" of "123", "0" of "0.5"): accept it only when
            # a delimiter follows, otherwise read on and decode again.
            if (end >= len(buf) or buf[end] not in _DELIMITERS) and not eof and fill():
                continue
            yield value
            index += 1
            pos = skip_ws(end)
            if pos >= len(buf):
                raise RowFileError(path, f"unexpected end of file after element {index - 1}")
            if buf[pos] == "]":
                return
            if buf[pos] != ",":
                raise RowFileError(path, f"expected ',' or ']' after element {index - 1} (char {consumed + pos})")
            pos = skip_ws(pos + 1)
            if pos > chunk_size:  # drop what has been parsed
                consumed += pos
                buf, pos = buf[pos:], 0


def _numbered_lines(path, fh):
    lineno = 0
    try:
        for lineno, line in enumerate(fh, 1):
            yield lineno, line
    except UnicodeDecodeError:
        raise RowFileError(path, f"line {lineno + 1}: not UTF-8 text") from None


def iter_rows(path) -> Iterator[dict]:
    """Rows of a ``.json`` array or ``.jsonl`` file (decided by the first non-blank character)."""
    head = check_text(path).lstrip()
    if head.startswith("["):
        return iter_json_array(path)
    return iter_jsonl(path)
