"""PTB-XL: WFDB records (records100/records500) plus the ``ptbxl_database.csv`` / ``scp_statements.csv`` index.

Labels follow the official ``example_physionet.py`` aggregation: every ``scp_codes`` key, regardless of its
likelihood, that is a diagnostic statement (``diagnostic == 1``) maps to its ``diagnostic_class``
(superclass) and ``diagnostic_subclass``; records without one get ``[]``. Form and rhythm statements come
from the ``form`` / ``rhythm`` flags. pandas reads the CSVs (quoted dict strings, blank floats) reliably;
one index per root is cached.
"""
from __future__ import annotations

import ast
import functools
import math
import os
import re
from pathlib import Path

from .ecg import ECG, ECGReadError, cell_flag, cell_number
from llava_ecg.catalog.labels import PTBXL_SUPERCLASS_MEMBERS, PTBXL_SUPERCLASSES
from .wfdb_reader import read_wfdb

__all__ = ["PTBXLIndex", "ptbxl_record_path", "read_ptbxl", "find_ptbxl_root", "split_of_fold", "RECORD_NAME"]

RECORD_NAME = re.compile(r"^(\d{5})_(lr|hr)$")
DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"
_AXIS = {"MID": "normal", "LAD": "left axis deviation", "ALAD": "abnormal left axis deviation",
         "RAD": "right axis deviation", "ARAD": "abnormal right axis deviation", "AXL": "left axis",
         "AXR": "right axis", "SAG": "sagittal (indeterminate) axis"}


def ptbxl_record_path(ecg_id: int, fs: int = 500) -> str:
    """Relative record path, e.g. ``records500/21000/21837_hr`` (folder = ecg_id rounded down to 1000)."""
    if fs not in (100, 500):
        raise ValueError(f"PTB-XL records exist at 100 or 500 Hz, not {fs}")
    folder = "records500" if fs == 500 else "records100"
    return f"{folder}/{(int(ecg_id) // 1000) * 1000:05d}/{int(ecg_id):05d}_{'hr' if fs == 500 else 'lr'}"


def split_of_fold(fold) -> str | None:
    """Recommended split: folds 1-8 train, 9 val, 10 test."""
    try:
        fold = int(fold)
    except (TypeError, ValueError):
        return None
    return "test" if fold == 10 else "val" if fold == 9 else "train" if 1 <= fold <= 8 else None


def find_ptbxl_root(record_path: str | os.PathLike) -> Path | None:
    """The dataset root (folder with ``ptbxl_database.csv``) above a record path, if any."""
    p = Path(record_path).resolve()
    for parent in list(p.parents)[:4]:
        if (parent / DATABASE_CSV).is_file():
            return parent
    return None


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _text(value):
    return None if _blank(value) else str(value)


class PTBXLIndex:
    """Metadata and labels for every PTB-XL record of one dataset root."""

    def __init__(self, root: str | os.PathLike, *, database_csv: str | os.PathLike | None = None,
                 statements_csv: str | os.PathLike | None = None):
        import pandas as pd

        self.root = Path(root)
        db_path = Path(database_csv) if database_csv else self.root / DATABASE_CSV
        if not db_path.is_file():
            raise ECGReadError(db_path, "PTB-XL database CSV not found")
        try:
            self.db = pd.read_csv(db_path, index_col="ecg_id")
        except Exception as exc:
            raise ECGReadError(db_path, f"cannot parse PTB-XL database CSV: {exc}") from None
        missing = {"scp_codes", "strat_fold"} - set(self.db.columns)
        if missing:
            raise ECGReadError(db_path, f"PTB-XL database CSV lacks columns {sorted(missing)}")
        self.db_path = db_path
        # per-column arrays: a row lookup is a dict hit plus array reads (``DataFrame.loc`` costs ~1 ms)
        self._pos = {int(e): i for i, e in enumerate(self.db.index)}
        self._cols = {c: self.db[c].to_numpy() for c in self.db.columns}
        st_path = Path(statements_csv) if statements_csv else self.root / STATEMENTS_CSV
        self.statements_path = st_path if st_path.is_file() else None
        if self.statements_path:
            try:
                st = pd.read_csv(st_path, index_col=0)
            except Exception as exc:
                raise ECGReadError(st_path, f"cannot parse scp_statements.csv: {exc}") from None
            flag = lambda col: {c for c in st.index if col in st.columns and st.loc[c, col] == 1}  # noqa: E731
            self.diagnostic = {c: (str(st.loc[c, "diagnostic_class"]), str(st.loc[c, "diagnostic_subclass"]))
                               for c in flag("diagnostic")}
            self.form = flag("form")
            self.rhythm = flag("rhythm")
            self.descriptions = {c: str(st.loc[c, "description"]) for c in st.index if "description" in st.columns}
        else:
            self.diagnostic = {c: (sc, None) for sc, codes in PTBXL_SUPERCLASS_MEMBERS.items() for c in codes}
            self.form, self.rhythm, self.descriptions = set(), set(), {}

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def open(root: str) -> "PTBXLIndex":
        """A cached index for ``root``."""
        return PTBXLIndex(root)

    def __len__(self) -> int:
        return len(self.db)

    def __contains__(self, ecg_id) -> bool:
        return int(ecg_id) in self._pos

    def ids(self, split: str | None = None) -> list[int]:
        """ecg_ids in CSV order, optionally only one split (train / val / test)."""
        if split is None:
            return [int(i) for i in self.db.index]
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        return [int(i) for i, fold in zip(self.db.index, self.db["strat_fold"]) if split_of_fold(fold) == split]

    def record_path(self, ecg_id: int, fs: int = 500) -> Path:
        col = "filename_hr" if fs == 500 else "filename_lr"
        rel = None
        if col in self._cols and int(ecg_id) in self._pos:
            rel = _text(self._cols[col][self._pos[int(ecg_id)]])
        return self.root / (rel or ptbxl_record_path(ecg_id, fs))

    def parse_scp_codes(self, raw, ecg_id=None) -> dict[str, float]:
        if _blank(raw):
            return {}
        try:
            codes = ast.literal_eval(str(raw))
        except (ValueError, SyntaxError) as exc:
            raise ECGReadError(self.db_path, f"ecg_id {ecg_id}: scp_codes {raw!r} is not a dict literal ({exc})") from None
        if not isinstance(codes, dict):
            raise ECGReadError(self.db_path, f"ecg_id {ecg_id}: scp_codes {raw!r} is not a dict")
        return {str(k): float(v) for k, v in codes.items()}

    def labels(self, scp_codes: dict[str, float]) -> dict:
        """Superclasses (sorted in NORM, MI, STTC, CD, HYP order), subclasses, diagnostic/form/rhythm codes."""
        diagnostic = [c for c in scp_codes if c in self.diagnostic]
        classes = {self.diagnostic[c][0] for c in diagnostic}
        subclasses = sorted({self.diagnostic[c][1] for c in diagnostic if self.diagnostic[c][1]})
        return {
            "superclasses": [c for c in PTBXL_SUPERCLASSES if c in classes] + sorted(classes - set(PTBXL_SUPERCLASSES)),
            "subclasses": subclasses,
            "diagnostic": diagnostic,
            "form": [c for c in scp_codes if c in self.form],
            "rhythm": [c for c in scp_codes if c in self.rhythm],
        }

    def meta(self, ecg_id: int) -> dict:
        ecg_id = int(ecg_id)
        if ecg_id not in self._pos:
            raise ECGReadError(self.db_path, f"ecg_id {ecg_id} is not in the PTB-XL database CSV")
        pos = self._pos[ecg_id]

        def get(col):
            return self._cols[col][pos] if col in self._cols else None

        scp = self.parse_scp_codes(get("scp_codes"), ecg_id)
        labels = self.labels(scp)
        age = cell_number(get("age"))
        sex = cell_number(get("sex"))
        axis = _text(get("heart_axis"))
        meta = {
            "ecg_id": ecg_id,
            "patient_id": cell_number(get("patient_id")),
            "age": 90 if age == 300 else age,  # PTB-XL writes 300 for ages above 89
            "sex": {0: "male", 1: "female"}.get(sex),
            "height": cell_number(get("height")),
            "weight": cell_number(get("weight")),
            "device": _text(get("device")),
            "recording_date": _text(get("recording_date")),
            "report": _text(get("report")),
            "scp_codes": scp,
            "labels": labels["superclasses"],
            **labels,
            "heart_axis": axis,
            "heart_axis_text": _AXIS.get(axis) if axis else None,
            "infarction_stadium1": _text(get("infarction_stadium1")),
            "infarction_stadium2": _text(get("infarction_stadium2")),
            "validated_by_human": cell_flag(get("validated_by_human")),
            "second_opinion": cell_flag(get("second_opinion")),
            "initial_autogenerated_report": cell_flag(get("initial_autogenerated_report")),
            "strat_fold": cell_number(get("strat_fold")),
            "split": split_of_fold(get("strat_fold")),
        }
        for col in ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker"):
            meta[col] = _text(get(col))
        return meta


def read_ptbxl(path: str | os.PathLike, *, index: PTBXLIndex | None = None, extra_leads: str = "keep",
               header=None) -> ECG:
    """A PTB-XL record; ``meta`` is enriched from the database CSV when the dataset root is found."""
    ecg = read_wfdb(path, extra_leads=extra_leads, header=header)
    ecg.meta["source"] = "ptbxl"
    m = RECORD_NAME.match(ecg.meta["id"])
    if m:
        ecg.meta["ecg_id"] = int(m.group(1))
    if index is None:
        root = find_ptbxl_root(path)
        index = PTBXLIndex.open(str(root)) if root else None
    if index is not None and m and int(m.group(1)) in index:
        ecg.meta.update(index.meta(int(m.group(1))))
    else:
        where = "has no row for this record" if index is not None else "was not found in the folders above the record"
        ecg.meta["labels_hint"] = (f"no PTB-XL labels: they come from {DATABASE_CSV}, which {where} "
                                   "(keep the dataset's folder layout)")
    return ecg
