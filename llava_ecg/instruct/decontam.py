"""Decontamination: which test records (and patients) also appear in a training build.

Records are compared by a normalised key ``<source family>:<record number>`` so the same ECG matches whatever
spelling each file uses: PTB-XL ``records500/00000/00001_hr``, ``00001_lr``, Challenge ``HR00001``,
ECGBench ``ptb-xl-00001`` and ECG-QA ``ptb-xl-00001-q_3`` all become ``ptbxl:1``.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Iterable

from llava_ecg.signals.challenge import database_of

from . import io as rio
from llava_ecg.catalog.sources import CHALLENGE_DATABASES, canonical_source

_PTBXL = re.compile(r"^(?:HR)?0*(\d+)(?:_hr|_lr)?$")
_ID_PREFIXES = (("ptb-xl-", "ptbxl"), ("ptb-report-", "ptbxl"), ("mimic-", "mimic"), ("code15-", "code15"),
                ("cpsc-", "cpsc"), ("g12-", "g12"), ("csn-", "csn"), ("synthetic-", "synthetic"))
_FAMILY = {"ecgqa": "ptbxl"}  # ECG-QA (PTB-XL version) images are PTB-XL records
_CHALLENGE_FAMILY = {**CHALLENGE_DATABASES, "ptbxl": "ptbxl"}


def record_key(ref: str, source: str | None = None) -> str:
    """Normalised key of a record reference, image path or ECGBench/ECGInstruct id."""
    text = str(ref).replace("\\", "/")
    src = canonical_source(source) if source else None
    is_id = False
    if src is None or src == "custom":
        for prefix, name in _ID_PREFIXES:
            if text.startswith(prefix):
                src, text, is_id = name, text[len(prefix):], True
                break
            if f"/{prefix[:-1]}/" in f"/{text}":
                src = name
                break
    name = PurePosixPath(text.split("::")[-1]).name
    is_image = bool(re.search(r"\.(png|jpe?g)$", name, flags=re.I))
    name = re.sub(r"\.(png|jpe?g|hea|mat|dat|hdf5)$", "", name, flags=re.I)
    if is_id or is_image:  # ids and image names carry a "-<k>" (and ECG-QA "-q_<n>") suffix
        name = re.sub(r"-q_\d+$", "", name)
        name = re.sub(r"-\d+$", "", name) if "-" in name else name
    if src is None and (name.startswith("HR") or re.fullmatch(r"\d{5}_(hr|lr)", name)):
        src = "ptbxl"
    if src in (None, "challenge"):
        # a mixed Challenge folder: the record name says the database (E -> g12, JS -> csn, A/Q -> cpsc, HR ->
        # ptbxl), as the manifest and ECGBench ids do, so `--exclude` and decontam agree with them
        src = _CHALLENGE_FAMILY.get(database_of(name) or "", src)
    src = _FAMILY.get(src or "custom", src or "custom")
    if src == "ptbxl":
        m = _PTBXL.match(name)
        if m:
            return f"ptbxl:{int(m.group(1))}"
    if src == "mimic":
        name = name.lstrip("s")
    return f"{src}:{name}"


def _rows_keys(path: Path) -> tuple[set[str], dict[str, str]]:
    """Record keys and key -> patient of a manifest, row file (ECGInstruct/ECGBench JSON/JSONL) or a plain
    list of record references (one per line)."""
    keys, patients = set(), {}
    text_head = rio.check_text(path).lstrip()[:1]
    if text_head not in ("[", "{"):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            if line.strip():
                keys.add(record_key(line.strip()))
        if not keys:
            raise rio.RowFileError(path, "no records (an empty file)")
        return keys, patients
    for i, row in enumerate(rio.iter_rows(path)):
        if not isinstance(row, dict) or not any(row.get(k) for k in ("record", "image", "image_path", "id")):
            raise rio.RowFileError(path, f"row {i} has no 'record', 'image' or 'id': not a manifest, ECGBench or "
                                         "ECGInstruct file")
        if "record" in row:  # our manifests
            key = record_key(row["record"], row.get("source"))
            if row.get("patient"):
                patients[key] = f"{key.split(':')[0]}:{row['patient']}"
        else:
            ref = row.get("image") or row.get("image_path") or row.get("id", "")
            key = record_key(ref, _source_of_row(row))
        keys.add(key)
    if not keys:
        raise rio.RowFileError(path, "no records (an empty file or an empty JSON array)")
    return keys, patients


def _source_of_row(row: dict) -> str | None:
    src = row.get("source")
    if src in ("PTB-XL", "ECG-QA"):
        return "ptbxl"
    if src == "MIMIC-IV-ECG":
        return "mimic"
    if src == "CODE-15%":
        return "code15"
    rid = str(row.get("id", ""))
    for prefix, name in _ID_PREFIXES:
        if rid.startswith(prefix):
            return name
    return None


def ptbxl_patients(database_csv) -> dict[str, str]:
    """``ptbxl:<ecg_id>`` -> ``ptbxl:<patient_id>`` from ``ptbxl_database.csv``."""
    import csv

    out = {}
    with open(database_csv, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row.get("patient_id"):
                out[f"ptbxl:{int(row['ecg_id'])}"] = f"ptbxl:{int(float(row['patient_id']))}"
    return out


def load_keys(paths: Iterable) -> set[str]:
    keys: set[str] = set()
    for p in paths:
        keys |= _rows_keys(Path(p))[0]
    return keys


def decontamination_report(train, tests: Iterable, *, ptbxl_database=None, out=None) -> dict:
    """Count test records (and patients, where known) present in the training set.

    ``train``: a build's ``manifest.jsonl`` (or any row file); ``tests``: ECGBench-format files, manifests or record
    lists. Patients come from manifests and, for PTB-XL, from ``ptbxl_database`` when given.
    """
    train_keys, train_patients = _rows_keys(Path(train))
    extra = ptbxl_patients(ptbxl_database) if ptbxl_database else {}
    report = {"train": str(train), "train_records": len(train_keys), "tests": []}
    for test in tests:
        test_keys, test_patients = _rows_keys(Path(test))
        shared = sorted(train_keys & test_keys)
        tp = {k: train_patients.get(k) or extra.get(k) for k in train_keys}
        sp = {k: test_patients.get(k) or extra.get(k) for k in test_keys}
        train_p = {p for p in tp.values() if p}
        test_p = {p for p in sp.values() if p}
        entry = {
            "test": str(test), "test_records": len(test_keys), "overlap_records": len(shared),
            "overlap_fraction": round(len(shared) / len(test_keys), 6) if test_keys else 0.0,
            "test_records_with_patient": sum(1 for v in sp.values() if v),
            "overlap_patients": len(train_p & test_p),
            "test_patients": len(test_p),
            "overlap_by_source": dict(Counter(k.split(":")[0] for k in shared)),
            "examples": shared[:20],
        }
        report["tests"].append(entry)
    if out:
        with rio.atomic_open(out) as fh:
            json.dump(report, fh, indent=1)
    return report
