"""Lazy, fork-safe access to LLaVA-format rows (JSON array or JSONL) and safe path resolution.

Upstream LLaVA ``json.load``s the whole training file into every process. The released
``ECGInstruct.json`` is 1.34 GB; as Python objects that is many GB per rank, and DataLoader workers
touch the refcounts and copy it page by page. Here a row file is turned once into JSONL plus an
int64 offset index (cached, keyed by path/size/mtime, written atomically under a file lock so that
concurrent ranks do not race); each access then seeks and parses one line. The only per-row state
held in memory is one numpy int64 per row.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from llava_ecg.atomic import atomic_open
from llava_ecg.errors import LlavaEcgError
from llava_ecg.instruct.io import RowFileError, dumps_row, iter_json_array

__all__ = ["RowFileError", "RowStore", "UnsafePathError", "resolve_under", "default_cache_dir"]


class UnsafePathError(LlavaEcgError):
    """A path in a row points outside the root it must stay under."""


@functools.lru_cache(maxsize=256)
def _abs_root(root: str) -> str:
    return os.path.normpath(os.path.abspath(root))


def resolve_under(root: str | os.PathLike, relative: str, *, what: str = "path") -> Path:
    """``root / relative``, refusing a row path that leaves ``root`` (``..``, absolute paths).

    The check is lexical on purpose: rows are untrusted text, the root is the user's choice, and a
    symlink the user placed inside the root (e.g. ``images/mimic -> /mnt/disk2/mimic``) is allowed.
    It also avoids a realpath walk per sample."""
    base = _abs_root(os.fspath(root))
    target = os.path.normpath(os.path.join(base, relative))
    if target != base and not target.startswith(base.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"{what} {relative!r} escapes its root {base!r}")
    return Path(target)


def default_cache_dir() -> Path:
    return Path(os.environ.get("LLAVA_ECG_CACHE") or Path.home() / ".cache" / "llava_ecg") / "rows"


def _scan_offsets(path: Path) -> np.ndarray:
    offsets = []
    pos = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                offsets.append(pos)
            pos += len(line)
    return np.asarray(offsets, dtype=np.int64)


def _first_char(path: Path) -> bytes:
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(4096)
            if not chunk:
                return b""
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1]


class RowStore:
    """Row ``i`` of a JSON array / JSONL file, parsed on demand."""

    def __init__(self, path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise RowFileError(self.path, "no such file")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._lines_path, self.offsets = self._index(self.cache_dir)
        if len(self.offsets) == 0:
            raise RowFileError(self.path, "contains no rows")
        self._fh = None
        self._pid = None

    def _index(self, cache_dir: Path) -> tuple[Path, np.ndarray]:
        stat = self.path.stat()
        key = hashlib.sha1(f"{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        self.cache_key = key
        stem = cache_dir / f"{self.path.stem}-{key}"
        is_array = _first_char(self.path) == b"["
        if not is_array:
            self._check_first_line()
        lines_path = stem.with_suffix(".jsonl") if is_array else self.path
        index_path = stem.with_suffix(".offsets.npy")
        if index_path.is_file() and lines_path.is_file():
            return lines_path, np.load(index_path)
        from filelock import FileLock  # one rank builds, the others wait and reuse

        cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(stem) + ".lock"):
            if not (index_path.is_file() and lines_path.is_file()):
                if is_array:
                    self._convert_array(lines_path)
                offsets = _scan_offsets(lines_path)
                with atomic_open(index_path, "wb") as fh:
                    np.save(fh, offsets)
        return lines_path, np.load(index_path)

    def _check_first_line(self) -> None:
        with open(self.path, "rb") as fh:
            for line in fh:
                if line.strip():
                    try:
                        row = json.loads(line)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        row = None
                    if not isinstance(row, dict):
                        raise RowFileError(self.path, "is neither a JSON list of rows nor JSONL (one object "
                                           f"per line); first line: {line[:80]!r}")
                    return

    def _convert_array(self, lines_path: Path) -> None:
        """Stream the array into JSONL: memory stays at one row even for the 1.34 GB ``ECGInstruct.json``."""
        try:
            with atomic_open(lines_path, "w", encoding="utf-8") as fh:
                for row in iter_json_array(self.path):
                    fh.write(dumps_row(row) + "\n")
        except RowFileError as exc:
            raise RowFileError(self.path, f"is not valid JSON ({exc.problem})") from None
        except UnicodeDecodeError as exc:
            raise RowFileError(self.path, f"is not valid JSON (not UTF-8 text: {exc.reason})") from None

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> dict:
        if self._fh is None or self._pid != os.getpid():  # each DataLoader worker opens its own handle
            self._fh = open(self._lines_path, "rb")
            self._pid = os.getpid()
        self._fh.seek(int(self.offsets[i]))
        line = self._fh.readline()
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError(f"row {i} of {self.path} is a {type(row).__name__}, not an object")
        return row

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fh"] = None
        state["_pid"] = None
        return state
