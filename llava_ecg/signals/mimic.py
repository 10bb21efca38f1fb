"""MIMIC-IV-ECG: ``files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN`` WFDB records, ``record_list.csv`` and
``machine_measurements.csv`` (machine statements ``report_0..17``, intervals, axes).

The dataset has 800k records, so nothing here loads a CSV into memory: ``record_list.csv`` is streamed
with the ``csv`` module and ``machine_measurements.csv`` gets a sorted (study_id -> byte offset) index
held in two numpy arrays (~13 MB for 800k rows); a record's row is read by seeking to it.
Leads are stored I, II, III, aVR, **aVF, aVL**, V1-V6 and are reordered to the standard order.
"""
from __future__ import annotations

import csv
import functools
import io
import math
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from .ecg import ECG, ECGReadError, cell_number
from .header import walk_headers
from .wfdb_reader import read_wfdb

__all__ = ["MimicIndex", "read_mimic", "find_mimic_root", "mimic_record_path", "PATH_PATTERN", "parse_measurements"]

PATH_PATTERN = re.compile(r"(?:^|/)files/p(\d{4})/p(\d+)/s(\d+)/(\d+)(?:\.hea|\.dat)?$")
RECORD_LIST = "record_list.csv"
MEASUREMENTS = "machine_measurements.csv"
_SENTINELS = {29999, 32767, -32768, 65535}
_INTERVALS = ("rr_interval", "p_onset", "p_end", "qrs_onset", "qrs_end", "t_end")
_AXES = ("p_axis", "qrs_axis", "t_axis")


def mimic_record_path(subject_id: int, study_id: int) -> str:
    """``files/p1000/p10000032/s40689238/40689238``."""
    s = f"{int(subject_id)}"
    return f"files/p{s[:4]}/p{s}/s{int(study_id)}/{int(study_id)}"


def find_mimic_root(record_path: str | os.PathLike) -> Path | None:
    p = Path(record_path).resolve()
    for parent in p.parents:
        if parent.name == "files":
            return parent.parent
    return None


def _value(raw: str | None, *, allow_negative: bool) -> float | None:
    v = cell_number(raw)
    ok = v is not None and abs(v) < 10000 and int(v) not in _SENTINELS and (v >= 0 or allow_negative)
    return v if ok else None


def parse_measurements(row: dict) -> dict:
    """Machine statements and measurements of one ``machine_measurements.csv`` row (sentinels -> None)."""
    statements = []
    for k in range(18):
        text = (row.get(f"report_{k}") or "").strip()
        if text:
            statements.append(text)
    out = {
        "report_statements": statements,
        "report": ". ".join(s.rstrip(". ") for s in statements) + "." if statements else None,
        "cart_id": (row.get("cart_id") or "").strip() or None,
        "bandwidth": (row.get("bandwidth") or "").strip() or None,
        "filtering": (row.get("filtering") or "").strip() or None,
    }
    for key in _INTERVALS:
        out[key] = _value(row.get(key), allow_negative=False)
    for key in _AXES:
        out[key] = _value(row.get(key), allow_negative=True)
    rr, p_on, p_end, q_on, q_end, t_end = (out[k] for k in _INTERVALS)
    out["hr"] = round(60000.0 / rr, 1) if rr and rr > 0 else None
    out["pr"] = q_on - p_on if p_on is not None and q_on is not None and q_on > p_on else None
    out["qrs"] = q_end - q_on if q_on is not None and q_end is not None and q_end > q_on else None
    out["qt"] = t_end - q_on if t_end is not None and q_on is not None and t_end > q_on else None
    out["qtc"] = round(out["qt"] / math.sqrt(rr / 1000.0)) if out["qt"] and rr else None
    out["axis"] = out["qrs_axis"]
    return out


class MimicIndex:
    """Streaming access to ``record_list.csv`` and per-study lookup in ``machine_measurements.csv``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.record_list = self.root / RECORD_LIST
        self.measurements_csv = self.root / MEASUREMENTS
        self._mm_ids: np.ndarray | None = None
        self._mm_offsets: np.ndarray | None = None
        self._mm_header: list[str] | None = None

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def open(root: str) -> "MimicIndex":
        return MimicIndex(root)

    def iter_records(self) -> Iterator[dict]:
        """Rows of ``record_list.csv`` (subject_id, study_id, file_name, ecg_time, path) in file order."""
        if not self.record_list.is_file():
            yield from self._walk_records()
            return
        with open(self.record_list, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ECGReadError(self.record_list, f"expected a 'path' column, found {reader.fieldnames}")
            yield from reader

    def paths_for(self, study_ids) -> dict[int, str]:
        """``study_id -> relative record path`` for the given studies (one streaming pass over record_list.csv);
        e.g. to link ECG-QA's MIMIC questions: ``iter_ecgqa(..., mimic_paths=index.paths_for(ids))``."""
        wanted = {int(s) for s in study_ids}
        found: dict[int, str] = {}
        for row in self.iter_records():
            sid = int(row["study_id"])
            if sid in wanted:
                found[sid] = row["path"]
                if len(found) == len(wanted):
                    break
        return found

    def _walk_records(self) -> Iterator[dict]:
        for rel in walk_headers(self.root, "files/**/*.hea"):
            m = PATH_PATTERN.search(rel)
            if m:
                yield {"subject_id": m.group(2), "study_id": m.group(3), "path": rel}

    def _build_offsets(self) -> None:
        ids, offsets = [], []
        with open(self.measurements_csv, "rb") as fh:
            header = fh.readline()
            self._mm_header = next(csv.reader([header.decode("utf-8")]))
            if "study_id" not in self._mm_header:
                raise ECGReadError(self.measurements_csv, f"no study_id column in {self._mm_header}")
            col = self._mm_header.index("study_id")
            offset = fh.tell()
            pending = b""
            start = offset
            for line in fh:
                if not pending:
                    start = offset
                offset += len(line)
                pending += line
                if pending.count(b'"') % 2:  # quoted field spans lines
                    continue
                fields = pending.split(b",", col + 1)
                pending = b""
                try:
                    ids.append(int(fields[col]))
                    offsets.append(start)
                except (ValueError, IndexError):
                    continue
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        self._mm_ids = np.asarray(ids, dtype=np.int64)[order]
        self._mm_offsets = np.asarray(offsets, dtype=np.int64)[order]

    def measurements(self, study_id: int) -> dict | None:
        """Parsed ``machine_measurements.csv`` row for ``study_id`` or ``None``."""
        if not self.measurements_csv.is_file():
            return None
        if self._mm_ids is None:
            self._build_offsets()
        i = int(np.searchsorted(self._mm_ids, int(study_id)))
        if i >= self._mm_ids.size or self._mm_ids[i] != int(study_id):
            return None
        with open(self.measurements_csv, "rb") as fh:
            fh.seek(int(self._mm_offsets[i]))
            chunk = fh.readline()
            while chunk.count(b'"') % 2:
                more = fh.readline()
                if not more:
                    break
                chunk += more
        values = next(csv.reader(io.StringIO(chunk.decode("utf-8", errors="replace"))), [])
        row = dict(zip(self._mm_header, values))
        parsed = parse_measurements(row)
        parsed["ecg_time"] = row.get("ecg_time") or None
        return parsed


def read_mimic(path: str | os.PathLike, *, index: MimicIndex | None = None, extra_leads: str = "keep",
               header=None) -> ECG:
    """A MIMIC-IV-ECG record; ``meta`` gets subject/study ids and, when the dataset root has
    ``machine_measurements.csv``, the machine report and measurements."""
    ecg = read_wfdb(path, extra_leads=extra_leads, header=header)
    meta = ecg.meta
    meta["source"] = "mimic"
    posix = Path(path).as_posix()
    m = PATH_PATTERN.search(posix)
    study = m.group(3) if m else meta["id"]
    meta["study_id"] = int(study) if str(study).isdigit() else None
    subject = m.group(2) if m else None
    for line in meta.get("comments", []):
        cm = re.match(r"^<?subject_id>?\s*:\s*(\d+)", line)
        if cm:
            subject = cm.group(1)
    meta["subject_id"] = int(subject) if subject else None
    meta.setdefault("labels", [])
    if index is None:
        root = find_mimic_root(path)
        index = MimicIndex.open(str(root)) if root else None
    if index is not None and meta["study_id"] is not None:
        mm = index.measurements(meta["study_id"])
        if mm:
            meta.update(mm)
            meta["labels"] = list(mm["report_statements"])
    return ecg
