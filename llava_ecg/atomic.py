"""Atomic file writes, shared by every stage: write a temp file beside the target, then ``os.replace`` it.

A reader never sees a half-written file, and a killed job leaves either the old file or the new one (plus at most
a ``.<name>.*.tmp`` that is removed on any error raised here). Files get normal permissions (``mkstemp`` would
leave them 0600).
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@functools.lru_cache(maxsize=1)  # os.umask can only be read by setting it: do that once per process
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8", *,
                fsync: bool = False) -> Iterator[IO]:
    """Open a temp file for writing; it replaces ``path`` only when the block ends without an exception.

    ``fsync=True`` also flushes it to disk first (for resume markers that must survive a power cut).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, **dump_kwargs) -> Path:
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, **dump_kwargs)
        fh.write("\n")
    return Path(path)


@contextlib.contextmanager
def new_output_dir(path: str | os.PathLike, *, keep_on: tuple[type[BaseException], ...] = ()) -> Iterator[Path]:
    """Create the output folder ``path`` for a run; if the run fails and the folder did not exist before, remove
    it, so a failed run leaves nothing that looks like a result. Exceptions in ``keep_on`` (e.g.
    ``KeyboardInterrupt`` for a resumable build) keep it. An existing folder is never removed."""
    import shutil

    path = Path(path)
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException as exc:
        if not existed and not isinstance(exc, keep_on):
            shutil.rmtree(path, ignore_errors=True)
        raise
