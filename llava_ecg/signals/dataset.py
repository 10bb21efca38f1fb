"""Whole-dataset iteration: a lazy, ordered stream of ``(ref, ECG)`` with ``limit``, deterministic sharding and
a ``SkipCounter`` of bad records by reason.

Order is the dataset's own, from :mod:`.listing` (PTB-XL / MIMIC CSV order, sorted header walk otherwise;
CODE-15% streams its HDF5 parts by part then row, to read rows in chunks), so shard ``i`` of ``n`` (every n-th
record starting at i) is reproducible across machines. Bad records are skipped, logged once each, and counted.
Nothing is materialised: memory stays flat on MIMIC-IV-ECG's 800k records.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np

from llava_ecg.argtypes import parse_shard

from .challenge import is_challenge_header
from .code15 import iter_code15, part_files
from .ecg import ECG, ECGReadError
from .header import read_header, walk_headers
from .listing import list_records
from .ptbxl import DATABASE_CSV
from .read import reader_name, read_record

__all__ = ["iter_dataset", "SkipCounter", "detect_dataset", "parse_shard"]

log = logging.getLogger(__name__)


@dataclass
class SkipCounter:
    """Counts skipped records by reason; keeps the first few refs per reason for the report."""
    counts: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    keep: int = 5

    def add(self, ref: str, reason: str, message: str) -> None:
        self.counts[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < self.keep:
            self.examples[reason].append(ref)
        log.warning("skipping %s (%s): %s", ref, reason, message)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "no records skipped"
        return "skipped " + ", ".join(f"{n} {reason}" for reason, n in self.counts.most_common())


def classify(exc: Exception) -> str:
    """A short reason category for an ``ECGReadError``."""
    text = str(exc).lower()
    for needle, reason in (("not found", "missing file"), ("missing", "missing file"), ("truncated", "truncated"),
                           ("checksum", "checksum mismatch"), ("all nan", "all NaN"), ("every sample is nan", "all NaN"),
                           ("contains nan", "contains NaN"), ("all zeros", "empty signal"), ("zero samples", "empty signal"),
                           ("#dx", "bad labels"), ("scp_codes", "bad labels"), ("header", "header/data mismatch"),
                           ("mat ", "bad MAT file"), ("hdf5", "bad HDF5 file")):
        if needle in text:
            return reason
    return "unreadable"


def detect_dataset(root: str | os.PathLike) -> str:
    root = Path(root)
    if not root.exists():
        raise ECGReadError(root, "dataset root does not exist")
    if root.is_file() and root.suffix in (".hdf5", ".h5"):
        return "code15"
    if (root / DATABASE_CSV).is_file():
        return "ptbxl"
    if (root / "record_list.csv").is_file() or (root / "files").is_dir():
        return "mimic"
    if part_files(root):
        return "code15"
    for ref in walk_headers(root):
        try:
            return "challenge" if is_challenge_header(read_header(root / f"{ref}.hea")) else "wfdb"
        except ECGReadError:
            continue
    raise ECGReadError(root, "cannot tell which dataset this is (no ptbxl_database.csv, record_list.csv, "
                             "*.hdf5 or *.hea found)")


def iter_dataset(root: str | os.PathLike, *, source: str | None = None, limit: int | None = None,
                 shard: tuple[int, int] | str | None = None, skipped: SkipCounter | None = None,
                 nan: str = "skip", fs: int = 500, split: str | None = None,
                 **read_options) -> Iterator[tuple[str, ECG]]:
    """Yield ``(ref, ECG)`` for every readable record of the dataset under ``root``.

    ``source``: ptbxl, mimic, code15, challenge, wfdb (detected if omitted). ``limit``: stop after that many
    yielded records (of this shard). ``shard=(i, n)`` or ``"i/n"``: only records whose position in the
    canonical order is ``i`` modulo ``n``. ``skipped``: a ``SkipCounter`` to fill. ``nan``: ``"skip"``
    records containing NaN samples (MIMIC has some), ``"keep"`` them, or ``"zero"`` the NaNs.
    ``fs``/``split``: PTB-XL sampling rate (100/500) and split (train/val/test).
    """
    if nan not in ("skip", "keep", "zero"):
        raise ValueError(f"nan must be 'skip', 'keep' or 'zero', got {nan!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    i_shard, n_shard = parse_shard(shard)
    src = (reader_name(source) if source else None) or detect_dataset(root)
    skipped = skipped if skipped is not None else SkipCounter()

    def produced() -> Iterator[tuple[str, ECG | Exception]]:
        if src == "code15":
            yield from iter_code15(root, select=lambda g: g % n_shard == i_shard, **read_options)
            return
        for rel in islice(list_records(root, src, split=split, fs=fs), i_shard, None, n_shard):
            ref = str(Path(root) / rel)
            try:
                yield ref, read_record(ref, source=src, **read_options)
            except ECGReadError as exc:
                yield ref, exc

    def readable() -> Iterator[tuple[str, ECG]]:
        for ref, item in produced():
            if isinstance(item, Exception):
                skipped.add(ref, classify(item), str(item))
                continue
            if nan != "keep" and not np.isfinite(item.signal).all():
                if nan == "skip":
                    n_bad = int((~np.isfinite(item.signal)).sum())
                    skipped.add(ref, "contains NaN", f"{n_bad} NaN samples")
                    continue
                item.signal = np.nan_to_num(item.signal, nan=0.0, posinf=0.0, neginf=0.0)
            yield ref, item

    yield from islice(readable(), limit)
