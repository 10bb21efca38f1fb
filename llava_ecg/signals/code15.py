"""CODE-15%: ``exams_partK.hdf5`` (``tracings`` float32 (N, 4096, 12) at 400 Hz, ``exam_id`` (N,)) + ``exams.csv``.

A record is addressed as ``FILE.hdf5::EXAM_ID``. h5py reads one row of the chunked dataset, so reading an
exam never loads the file; open files and the exam_id -> row maps are cached per process. Every part ends
with a dummy row (``exam_id == 0``, all zeros) that is never returned. 7 s and 10 s recordings are
zero-padded symmetrically to 4096 samples; the padding is removed by default.

Amplitude: the tracings are O(+-1) values that everyone treats as mV (the authors' README wording about
"1e-4 V" is ambiguous); ``amplitude_scale`` multiplies them if your copy differs.
"""
from __future__ import annotations

import functools
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import numpy as np

from .ecg import ECG, ECGReadError, STANDARD_LEADS, cell_flag, cell_number
from llava_ecg.catalog.labels import CODE15_LABELS

__all__ = ["read_code15", "parse_ref", "Code15File", "Code15Labels", "iter_code15", "part_files", "FS"]

FS = 400.0
_REF = re.compile(r"^(?P<file>.+\.(?:hdf5|h5))::(?P<exam>-?\d+)$")


def parse_ref(ref: str | os.PathLike) -> tuple[Path, int]:
    m = _REF.match(str(ref))
    if not m:
        raise ECGReadError(ref, "not a CODE-15% reference: expected FILE.hdf5::EXAM_ID")
    return Path(m.group("file")), int(m.group("exam"))


class Code15File:
    """One ``exams_partK.hdf5`` opened read-only, with its exam_id -> row map."""

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise ECGReadError(self.path, "CODE-15% HDF5 file not found")
        try:
            self._h5 = h5py.File(self.path, "r")
            tr = self._h5["tracings"]
            ids = np.asarray(self._h5["exam_id"][()], dtype=np.int64).reshape(-1)
        except KeyError as exc:
            raise ECGReadError(self.path, f"HDF5 file lacks dataset {exc}; expected 'tracings' and 'exam_id'") from None
        except Exception as exc:  # h5py raises OSError / RuntimeError on corrupt files
            raise ECGReadError(self.path, f"cannot open HDF5 file: {type(exc).__name__}: {exc}") from None
        if tr.ndim != 3 or tr.shape[0] != ids.size:
            raise ECGReadError(self.path, f"'tracings' has shape {tr.shape} but 'exam_id' has {ids.size} entries")
        if tr.shape[2] != 12:
            raise ECGReadError(self.path, f"'tracings' has {tr.shape[2]} leads, expected 12")
        self.tracings = tr
        self.exam_ids = ids
        self._rows = {int(e): i for i, e in enumerate(ids) if e != 0}

    def __len__(self) -> int:
        return len(self._rows)

    def row_of(self, exam_id: int) -> int:
        if exam_id == 0:
            raise ECGReadError(f"{self.path}::0", "exam_id 0 is the dummy padding row at the end of each part")
        try:
            return self._rows[int(exam_id)]
        except KeyError:
            raise ECGReadError(f"{self.path}::{exam_id}", "exam_id not in this file") from None

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        try:
            return np.asarray(self.tracings[start:stop], dtype=np.float32)
        except Exception as exc:
            raise ECGReadError(self.path, f"cannot read rows {start}:{stop}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        try:
            self._h5.close()
        except Exception:
            pass


_OPEN: "OrderedDict[str, Code15File]" = OrderedDict()
_MAX_OPEN = 8


def _open(path: Path) -> Code15File:
    key = os.path.abspath(path)
    f = _OPEN.get(key)
    if f is not None:
        try:
            if f.path.stat().st_mtime_ns == f._mtime:
                _OPEN.move_to_end(key)
                return f
        except OSError:
            pass
        f.close()
        del _OPEN[key]
    f = Code15File(path)
    f._mtime = path.stat().st_mtime_ns
    _OPEN[key] = f
    while len(_OPEN) > _MAX_OPEN:
        _OPEN.popitem(last=False)[1].close()
    return f


class Code15Labels:
    """``exams.csv`` keyed by exam_id: one numpy/object array per column plus an exam_id -> row dict, so a
    lookup is a few array reads (pandas ``.loc`` per exam would dominate streaming time)."""

    def __init__(self, csv_path: str | os.PathLike):
        import pandas as pd

        self.path = Path(csv_path)
        try:
            df = pd.read_csv(self.path, dtype={"trace_file": str})
        except Exception as exc:
            raise ECGReadError(self.path, f"cannot parse exams.csv: {exc}") from None
        if "exam_id" not in df.columns:
            raise ECGReadError(self.path, f"exams.csv has no exam_id column (columns: {list(df.columns)})")
        df = df.drop_duplicates("exam_id")
        self._row = {int(e): i for i, e in enumerate(df["exam_id"].to_numpy())}
        self._cols = {c: df[c].to_numpy() for c in df.columns}

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def open(csv_path: str) -> "Code15Labels":
        return Code15Labels(csv_path)

    def __len__(self) -> int:
        return len(self._row)

    def _get(self, col: str, i: int):
        arr = self._cols.get(col)
        return None if arr is None else arr[i]

    def meta(self, exam_id: int) -> dict | None:
        i = self._row.get(int(exam_id))
        if i is None:
            return None
        is_male = cell_flag(self._get("is_male", i))
        return {
            "age": cell_number(self._get("age", i)),
            "sex": None if is_male is None else ("male" if is_male else "female"),
            "patient_id": cell_number(self._get("patient_id", i)),
            "nn_predicted_age": cell_number(self._get("nn_predicted_age", i)),
            "labels": [lab for lab in CODE15_LABELS if cell_flag(self._get(lab, i))],
            "normal_ecg": cell_flag(self._get("normal_ecg", i)),
            "death": cell_flag(self._get("death", i)),
            "timey": cell_number(self._get("timey", i)),
            "trace_file": self._get("trace_file", i) if isinstance(self._get("trace_file", i), str) else None,
        }


def _labels_csv_for(h5_path: Path) -> Path | None:
    for folder in (h5_path.parent, h5_path.parent.parent):
        candidate = folder / "exams.csv"
        if candidate.is_file():
            return candidate
    return None


def _make_ecg(tracing: np.ndarray, ref: str, exam_id: int, *, strip_padding: bool, amplitude_scale: float,
              labels: Code15Labels | None) -> ECG:
    if not np.isfinite(tracing).any():
        raise ECGReadError(ref, "tracing is all NaN")
    nonzero = np.flatnonzero(np.any(tracing != 0, axis=1))
    if nonzero.size == 0:
        raise ECGReadError(ref, "tracing is all zeros")
    meta = {"id": str(exam_id), "source": "code15", "exam_id": int(exam_id), "labels": [],
            "original_samples": int(tracing.shape[0])}
    if strip_padding:
        meta["padding"] = [int(nonzero[0]), int(tracing.shape[0] - 1 - nonzero[-1])]
        tracing = tracing[nonzero[0]:nonzero[-1] + 1]
    signal = tracing * np.float32(amplitude_scale) if amplitude_scale != 1.0 else tracing
    if labels is not None:
        extra = labels.meta(exam_id)
        if extra:
            meta.update(extra)
    return ECG(signal=signal, fs=FS, leads=list(STANDARD_LEADS), meta=meta)


def _check_extra_leads(extra_leads: str) -> None:
    if extra_leads not in ("keep", "drop"):
        raise ValueError(f"extra_leads must be 'keep' or 'drop', got {extra_leads!r}")


def read_code15(ref: str | os.PathLike, *, strip_padding: bool = True, amplitude_scale: float = 1.0,
                labels_csv: str | os.PathLike | None = None, extra_leads: str = "keep") -> ECG:
    """One exam from ``FILE.hdf5::EXAM_ID`` (400 Hz, standard leads, padding removed).

    ``extra_leads`` is accepted like every reader's, and has nothing to drop: CODE-15% stores the 12 leads only.
    """
    _check_extra_leads(extra_leads)
    path, exam_id = parse_ref(ref)
    f = _open(path)
    row = f.row_of(exam_id)
    tracing = f.read_rows(row, row + 1)[0]
    csv_path = Path(labels_csv) if labels_csv else _labels_csv_for(path)
    labels = Code15Labels.open(str(csv_path)) if csv_path else None
    return _make_ecg(tracing, f"{path}::{exam_id}", exam_id, strip_padding=strip_padding,
                     amplitude_scale=amplitude_scale, labels=labels)


def part_files(root: str | os.PathLike) -> list[Path]:
    """``exams_part0.hdf5 ... exams_part17.hdf5`` in numeric order (any other ``*.hdf5`` after them)."""
    root = Path(root)
    if root.is_file():
        return [root]
    files = sorted(list(root.glob("*.hdf5")) + list(root.glob("*.h5")))
    parts = [p for p in files if re.fullmatch(r"exams_part\d+", p.stem)]
    files = parts or files  # a CODE-15% folder: only its parts

    def key(p: Path):
        m = re.search(r"part(\d+)", p.stem)
        return (0, int(m.group(1)), p.name) if m else (1, 0, p.name)

    return sorted(files, key=key)


def iter_code15(root: str | os.PathLike, *, chunk: int = 256, strip_padding: bool = True,
                amplitude_scale: float = 1.0, labels_csv: str | os.PathLike | None = None,
                select=None, extra_leads: str = "keep") -> Iterator[tuple[str, ECG | ECGReadError]]:
    """(ref, ECG or the ECGReadError for that exam) for every exam of every part, reading ``chunk`` rows at a time.

    ``select(global_index) -> bool`` filters exams before any signal is read (used for sharding).
    """
    _check_extra_leads(extra_leads)
    root = Path(root)
    csv_path = Path(labels_csv) if labels_csv else _labels_csv_for(root if root.is_file() else root / "exams.csv")
    labels = Code15Labels.open(str(csv_path)) if csv_path else None
    g = 0
    for part in part_files(root):
        try:
            f = _open(part)
        except ECGReadError as exc:
            yield str(part), exc
            continue
        ids = f.exam_ids
        for start in range(0, ids.size, chunk):
            stop = min(ids.size, start + chunk)
            wanted = []
            for i in range(start, stop):
                if ids[i] == 0:
                    continue
                if select is None or select(g):
                    wanted.append(i)
                g += 1
            if not wanted:
                continue
            try:
                block = f.read_rows(wanted[0], wanted[-1] + 1)
            except ECGReadError as exc:
                for i in wanted:
                    yield f"{part}::{ids[i]}", exc
                continue
            for i in wanted:
                ref = f"{part}::{ids[i]}"
                try:
                    yield ref, _make_ecg(block[i - wanted[0]], ref, int(ids[i]), strip_padding=strip_padding,
                                         amplitude_scale=amplitude_scale, labels=labels)
                except ECGReadError as exc:
                    yield ref, exc
