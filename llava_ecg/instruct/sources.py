"""Where records come from: list a dataset root per source and load records through ``llava_ecg.signals``.

Listing is cheap (CSV indexes or a sorted glob) and loading is lazy (a zero-argument loader per record), so a
shard or a resumed build never reads records it does not need. Record references are paths relative to the
dataset root (``records500/00000/00001_hr``, ``files/p1000/p10000032/s40689238/40689238``,
``exams_part0.hdf5::1109348``), exactly what the train stage resolves with ``read_record(root / ref)``.
"""
from __future__ import annotations

import csv
import functools
import os
from pathlib import Path
from typing import Callable, Iterator

from llava_ecg.catalog.sources import canonical_source, get_source
from llava_ecg.errors import LlavaEcgError

Loader = Callable[[], object]


class SourceError(LlavaEcgError):
    """A dataset root cannot be listed; the message names the folder and what is missing."""


def load_record(root: Path, ref: str, source: str | None):
    """Read one record with the signals stage."""
    from llava_ecg.signals import read_record

    path = f"{root}/{ref}" if "::" in ref else str(Path(root) / ref)
    return read_record(path, source=reader_source(source))


def reader_source(source: str | None) -> str | None:
    """The ``llava_ecg.signals.read_record`` source for one of ours (``None``: let the reader detect it)."""
    return get_source(source).reader if source else None


def list_records(source: str, root, *, split: str | None = None) -> list[str]:
    """Record references under ``root`` for ``source``, in a stable order."""
    source = canonical_source(source)
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"{root}: dataset root is not a folder")
    lister = LISTERS.get(source, _list_wfdb)
    refs = lister(root, split)
    if not refs:
        raise SourceError(f"{root}: no {source} records found")
    return refs


def iter_source(source: str, root, *, split: str | None = None, limit: int | None = None) -> Iterator[tuple[str, Loader]]:
    """``(record_ref, loader)`` pairs for :func:`~.build.build_instruct`. The root is listed at the call, so a
    missing or empty dataset fails before a build starts."""
    key = canonical_source(source)
    refs = list_records(key, root, split=split)
    refs = refs[:limit] if limit is not None else refs
    return ((ref, functools.partial(load_record, Path(root), ref, key)) for ref in refs)


def _list_ptbxl(root: Path, split: str | None) -> list[str]:
    """Records of ``ptbxl_database.csv`` (500 Hz ``filename_hr`` where present, else the 100 Hz ``filename_lr``:
    a copy holding only ``records100/`` is used as it is); without the CSV, every record file under the root."""
    db = root / "ptbxl_database.csv"
    if not db.is_file():
        if split:
            raise SourceError(f"{db}: needed to select the {split!r} split (strat_fold); put PTB-XL's "
                              "ptbxl_database.csv in the root or pass --split all")
        return (_list_wfdb(root, None, pattern="records500/**/*.hea") or _list_wfdb(root, None, pattern="records100/**/*.hea")
                or _list_wfdb(root, None))
    from llava_ecg.signals.ptbxl import split_of_fold

    refs, listed = [], 0
    with open(db, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if split and split_of_fold(row.get("strat_fold")) != split:
                continue
            listed += 1
            ecg_id = int(float(row["ecg_id"]))
            candidates = (row.get("filename_hr") or f"records500/{ecg_id // 1000 * 1000:05d}/{ecg_id:05d}_hr",
                          row.get("filename_lr") or f"records100/{ecg_id // 1000 * 1000:05d}/{ecg_id:05d}_lr")
            rel = next((c for c in candidates if (root / f"{c}.hea").is_file()), None)
            if rel:
                refs.append(rel)
    if listed and not refs:
        raise SourceError(f"{root}: ptbxl_database.csv lists {listed} {split or ''} records but neither their "
                          "records500/ (filename_hr) nor their records100/ (filename_lr) files are under this root")
    return refs


def _list_mimic(root: Path, split: str | None) -> list[str]:
    record_list = root / "record_list.csv"
    if record_list.is_file():
        with open(record_list, newline="", encoding="utf-8-sig") as fh:
            return [row["path"] for row in csv.DictReader(fh) if (root / f"{row['path']}.hea").is_file()]
    return _list_wfdb(root, split, pattern="files/**/*.hea")


def _list_code15(root: Path, split: str | None) -> list[str]:
    exams = root / "exams.csv"
    if not exams.is_file():
        raise SourceError(f"{exams}: CODE-15% needs exams.csv (exam_id, trace_file, labels)")
    refs = []
    with open(exams, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            trace = row.get("trace_file") or ""
            if trace and (root / trace).is_file():
                refs.append(f"{trace}::{int(float(row['exam_id']))}")
    return refs


def _list_wfdb(root: Path, split: str | None, pattern: str = "**/*.hea") -> list[str]:
    return sorted(str(p.relative_to(root).with_suffix("")).replace(os.sep, "/") for p in root.glob(pattern))


LISTERS = {"ptbxl": _list_ptbxl, "ecgqa": _list_ptbxl, "mimic": _list_mimic, "code15": _list_code15}


def iter_ecgqa_records(ecgqa_root, ptbxl_root, *, split: str = "train", variant: str = "paraphrased",
                       limit: int | None = None) -> Iterator[tuple[str, Loader]]:
    """PTB-XL records that have single-ECG ECG-QA questions; each loaded ECG carries its questions (with their
    answer options) in ``meta["ecgqa"]``. Records are ordered by PTB-XL path."""
    from .ecgqa import iter_samples, options_for, template_options

    table = template_options(ecgqa_root)
    by_record: dict[str, list[dict]] = {}
    for sample in iter_samples(ecgqa_root, split=split, variant=variant):
        sample["options"] = options_for(sample, table)
        by_record.setdefault(sample["ecg_paths"][0], []).append(sample)
    refs = sorted(by_record)
    for ref in refs[:limit] if limit is not None else refs:
        yield ref, functools.partial(_load_with_questions, Path(ptbxl_root), ref, by_record[ref])


def _load_with_questions(root: Path, ref: str, questions: list[dict]):
    ecg = load_record(root, ref, "ptbxl")
    ecg.meta["source"] = "ecgqa"
    ecg.meta["ecgqa"] = questions
    return ecg
