"""Which records a dataset root holds, in its canonical order (shared by ``iter_dataset`` and the instruct stage):
cheap (a CSV index or a sorted header walk, no signal read), as references relative to the root
(``records500/00000/00001_hr``, ``exams_part0.hdf5::1109348``) that ``read_record(root / ref)`` reads. Only records
whose files are under the root are listed, so a partial copy (one CODE-15% part, some MIMIC folders) is used as it is.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable

from llava_ecg.errors import LlavaEcgError
from llava_ecg.registry import Registry

from .header import walk_headers
from .mimic import MimicIndex
from .ptbxl import DATABASE_CSV, PTBXLIndex
from .read import reader_name

__all__ = ["list_records", "LISTERS", "SourceError"]


class SourceError(LlavaEcgError):
    """A dataset root cannot be listed; the message names the folder and what is missing."""


def list_records(root: str | os.PathLike, source: str, *, split: str | None = None, fs: int = 500) -> list[str]:
    """References of the records under ``root`` for ``source`` (a source, alias or reader name), in a stable
    order. ``split`` (train / val / test) and ``fs`` (the preferred rate, 100 or 500) apply to PTB-XL."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"{root}: dataset root is not a folder")
    reader = reader_name(source)
    refs = LISTERS[reader](root, split, fs) if reader in LISTERS else walk_headers(root)
    if not refs:
        raise SourceError(f"{root}: no {source} records found")
    return refs


def _list_ptbxl(root: Path, split: str | None, fs: int) -> list[str]:
    """500 Hz ``filename_hr`` or 100 Hz ``filename_lr`` of each ``ptbxl_database.csv`` row, the ``fs`` one first,
    whichever is under the root (a copy holding only ``records100/`` is used as it is)."""
    rates = (fs, 100 if fs == 500 else 500)
    if not (root / DATABASE_CSV).is_file():
        if split:
            raise SourceError(f"{root / DATABASE_CSV}: needed to select the {split!r} split (strat_fold); put "
                              "PTB-XL's ptbxl_database.csv in the root or pass --split all")
        return (walk_headers(root, f"records{rates[0]}/**/*.hea") or walk_headers(root, f"records{rates[1]}/**/*.hea")
                or walk_headers(root))
    index = PTBXLIndex.open(str(root))
    ids = index.ids(split)
    refs = [next((p for p in (index.record_path(i, f) for f in rates) if p.with_suffix(".hea").is_file()), None)
            for i in ids]
    refs = [p.relative_to(root).as_posix() for p in refs if p]
    if ids and not refs:
        raise SourceError(f"{root}: {DATABASE_CSV} lists {len(ids)} {split or ''} records but neither their "
                          "records500/ (filename_hr) nor their records100/ (filename_lr) files are under this root")
    return refs


def _list_mimic(root: Path, split, fs) -> list[str]:
    """``record_list.csv`` order, else a sorted walk of ``files/``."""
    return [row["path"] for row in MimicIndex(root).iter_records() if (root / f"{row['path']}.hea").is_file()]


def _list_code15(root: Path, split, fs) -> list[str]:
    """``trace_file::exam_id`` in ``exams.csv`` order, for the parts under the root."""
    exams = root / "exams.csv"
    if not exams.is_file():
        raise SourceError(f"{exams}: CODE-15% needs exams.csv (exam_id, trace_file, labels)")
    with open(exams, newline="", encoding="utf-8-sig") as fh:
        return [f"{row['trace_file']}::{int(float(row['exam_id']))}" for row in csv.DictReader(fh)
                if row.get("trace_file") and (root / row["trace_file"]).is_file()]


#: listers by reader name; a source whose reader has none is listed by a sorted walk of its ``.hea`` headers
LISTERS: Registry[Callable[[Path, str | None, int], list[str]]] = Registry("lister")
for _name, _lister in (("ptbxl", _list_ptbxl), ("mimic", _list_mimic), ("code15", _list_code15)):
    LISTERS.register(_name, _lister)
