"""PhysioNet/CinC Challenge 2020/21 records: ``.hea`` + MAT v4 ``.mat`` (``val`` int16, format ``16+24``).

Covers CPSC 2018 (+Extra), INCART, PTB, PTB-XL "HR", Georgia G12EC and Chapman-Shaoxing/Ningbo. Samples are
divided by each lead's gain (1000/mV, Georgia 4880/mV) - ECG-Image-Kit forgets this. Header comments
``#Age/#Sex/#Dx`` are parsed with their real-world variants (``# Dx:``, ``NaN``/``Unknown`` ages); the
Georgia record line ``E00001.mat 12 500 ...`` is accepted by our own header parser.
"""
from __future__ import annotations

import os
import re

from .ecg import ECG, ECGReadError
from .header import read_header
from llava_ecg.catalog.labels import to_cpsc
from llava_ecg.catalog.snomed import SNOMED, ecgbench_option, snomed_abbreviation
from .wfdb_reader import _age, _sex, comment_fields, header_path_for, read_wfdb

__all__ = ["read_challenge", "parse_dx", "database_of", "is_challenge_header"]

# record-name prefix -> source database (Challenge 2021 naming)
_PREFIXES = (("HR", "ptbxl"), ("JS", "chapman_ningbo"), ("A", "cpsc"), ("Q", "cpsc_extra"), ("I", "incart"),
             ("S", "ptb"), ("E", "georgia"))
_CODE = re.compile(r"^\d{5,18}$")


def database_of(record_name: str) -> str | None:
    for prefix, name in _PREFIXES:
        if record_name.startswith(prefix) and record_name[len(prefix):].isdigit():
            return name
    return None


def parse_dx(value: str, path) -> list[str]:
    """``'426783006,164865005'`` -> codes as strings, in file order without duplicates."""
    codes: list[str] = []
    for token in re.split(r"[,;\s]+", value.strip()):
        if not token:
            continue
        if not _CODE.match(token):
            raise ECGReadError(path, f"#Dx value {value!r} is not a list of SNOMED-CT codes (bad token {token!r})")
        if token not in codes:
            codes.append(token)
    return codes


def is_challenge_header(header) -> bool:
    return any(s.file.lower().endswith(".mat") for s in header.signals)


def read_challenge(path: str | os.PathLike, *, extra_leads: str = "keep", header=None) -> ECG:
    """A Challenge-format record in mV with ``meta``: age, sex, ``snomed`` codes, ``labels`` (abbreviations),
    ``dx_names``, ``options`` (ECGBench ``ABBR(name)`` text), ``cpsc_labels`` and ``database``."""
    header = header or read_header(header_path_for(path))
    ecg = read_wfdb(path, extra_leads=extra_leads, header=header)
    fields = comment_fields(header.comments)
    meta = ecg.meta
    meta["source"] = "challenge"
    meta["database"] = database_of(header.record_name)
    meta["age"] = _age(fields.get("age"))
    meta["sex"] = _sex(fields.get("sex"))
    dx = fields.get("dx")
    if dx is None:
        raise ECGReadError(header.path, "Challenge header has no #Dx line")
    codes = parse_dx(dx, header.path)
    meta["snomed"] = codes
    meta["labels"] = [snomed_abbreviation(c) or c for c in codes]
    meta["dx_names"] = [SNOMED[c].name if c in SNOMED else None for c in codes]
    meta["options"] = [ecgbench_option(c) for c in codes if c in SNOMED]
    meta["cpsc_labels"] = to_cpsc(codes)
    meta["unknown_snomed"] = [c for c in codes if c not in SNOMED]
    for key in ("rx", "hx", "sx"):
        if key in fields and fields[key].lower() not in ("unknown", "nan", ""):
            meta[key] = fields[key]
    return ecg
