"""Records for the instruct stage: a lazy loader per record of a dataset root (listed by
:func:`llava_ecg.signals.list_records`), and PTB-XL records paired with their ECG-QA questions.

Loading is lazy (a zero-argument loader per record), so a shard or a resumed build never reads records it does
not need. Record references are paths relative to the dataset root, exactly what the train stage resolves with
``read_record(root / ref)``.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Iterator

from llava_ecg.catalog.sources import canonical_source, get_source
from llava_ecg.signals import list_records, read_record

Loader = Callable[[], object]


def load_record(root: Path, ref: str, source: str | None):
    """Read one record with the signals stage."""
    path = f"{root}/{ref}" if "::" in ref else str(Path(root) / ref)
    return read_record(path, source=reader_source(source))


def reader_source(source: str | None) -> str | None:
    """The ``llava_ecg.signals.read_record`` source for one of ours (``None``: let the reader detect it)."""
    return get_source(source).reader if source else None


def iter_source(source: str, root, *, split: str | None = None, limit: int | None = None) -> Iterator[tuple[str, Loader]]:
    """``(record_ref, loader)`` pairs for :func:`~.build.build_instruct`. The root is listed at the call, so a
    missing or empty dataset fails before a build starts."""
    key = canonical_source(source)
    refs = list_records(root, key, split=split)
    refs = refs[:limit] if limit is not None else refs
    return ((ref, functools.partial(load_record, Path(root), ref, key)) for ref in refs)


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
        present = _present_ptbxl_ref(Path(ptbxl_root), ref)
        yield present, functools.partial(_load_with_questions, Path(ptbxl_root), present, by_record[ref])


def _present_ptbxl_ref(root: Path, ref: str) -> str:
    """ECG-QA names PTB-XL's 500 Hz files; a copy holding only ``records100/`` is used through its 100 Hz twin."""
    if (root / f"{ref}.hea").is_file() or not ref.startswith("records500/") or not ref.endswith("_hr"):
        return ref
    twin = "records100/" + ref[len("records500/"):-len("_hr")] + "_lr"
    return twin if (root / f"{twin}.hea").is_file() else ref


def _load_with_questions(root: Path, ref: str, questions: list[dict]):
    ecg = load_record(root, ref, "ptbxl")
    ecg.meta["source"] = "ecgqa"
    ecg.meta["ecgqa"] = questions
    return ecg
