"""Label maps: SNOMED-CT (Challenge 2020/21) -> abbreviations, names and the ECGBench label spaces;
PTB-XL superclass membership; CODE-15% and CPSC label sets.

* ``snomed_entry(code)`` / ``snomed_abbreviation`` / ``snomed_name`` use the Challenge 2021 mapping
  tables (``snomed_table.py``), the source of the G12EC/CSN option text in ECGBench, rendered by
  ``ecgbench_option(code)`` as ``ABBR(lower-case name)``, e.g. ``IAVB(1st degree av block)``.
* ``to_cpsc(codes)`` maps to ECGBench ``cpsc-test`` labels {NORM, AF, I-AVB, LBBB, RBBB, PAC, PVC, STD, STE}.
  CPSC 2018's own PVC class is coded 164884008 ("ventricular ectopics"), not 427172004; the Challenge's
  scored equivalents (CLBBB=LBBB, CRBBB=RBBB, SVPB=PAC, 427172004/17338001=PVC) map too, so records of
  other databases land in the same space.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .snomed_table import DATABASES, DX_TABLE

__all__ = [
    "DxEntry", "SNOMED", "snomed_entry", "snomed_abbreviation", "snomed_name", "ecgbench_option",
    "CPSC_LABELS", "SNOMED_TO_CPSC", "CPSC_REFERENCE_CLASSES", "to_cpsc", "CHALLENGE_EQUIVALENT",
    "CODE15_LABELS", "PTBXL_SUPERCLASSES", "PTBXL_SUPERCLASS_MEMBERS", "DATABASES",
]


@dataclass(frozen=True)
class DxEntry:
    code: str
    abbreviation: str
    name: str  # as written in the Challenge table (mixed case in a few rows)
    scored: bool
    counts: dict

    @property
    def option_text(self) -> str:
        return f"{self.abbreviation}({' '.join(self.name.lower().split())})"


SNOMED: dict[str, DxEntry] = {
    code: DxEntry(code, abbr, name, scored, dict(zip(DATABASES, counts)))
    for code, abbr, name, scored, counts in DX_TABLE
}
_BY_ABBREVIATION = {entry.abbreviation.lower(): entry for entry in SNOMED.values()}

# Challenge 2021 scores these pairs as one diagnosis (notes column of dx_mapping_scored.csv).
CHALLENGE_EQUIVALENT = {"733534002": "164909002", "713427006": "59118001", "63593006": "284470004",
                        "17338001": "427172004"}


def snomed_entry(code) -> DxEntry | None:
    """The Challenge table row for a SNOMED code (int or str) or an abbreviation; ``None`` if unknown."""
    key = str(code).strip()
    return SNOMED.get(key) or _BY_ABBREVIATION.get(key.lower())


def snomed_abbreviation(code) -> str | None:
    entry = snomed_entry(code)
    return entry.abbreviation if entry else None


def snomed_name(code) -> str | None:
    entry = snomed_entry(code)
    return entry.name if entry else None


def ecgbench_option(code) -> str | None:
    """``ABBR(lower-case Dx name)`` as in ECGBench's g12/csn options, e.g. ``IAVB(1st degree av block)``."""
    entry = snomed_entry(code)
    return entry.option_text if entry else None


CPSC_LABELS = ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
SNOMED_TO_CPSC = {
    "426783006": "NORM", "164889003": "AF", "270492004": "I-AVB", "164909002": "LBBB", "733534002": "LBBB",
    "59118001": "RBBB", "713427006": "RBBB", "284470004": "PAC", "63593006": "PAC", "164884008": "PVC",
    "427172004": "PVC", "17338001": "PVC", "429622005": "STD", "164931005": "STE",
}
# CPSC 2018 REFERENCE.csv class numbers
CPSC_REFERENCE_CLASSES = {1: "NORM", 2: "AF", 3: "I-AVB", 4: "LBBB", 5: "RBBB", 6: "PAC", 7: "PVC", 8: "STD", 9: "STE"}


def to_cpsc(codes: Iterable) -> list[str]:
    """CPSC labels (in ``CPSC_LABELS`` order) for SNOMED codes; unmapped codes are ignored."""
    found = {SNOMED_TO_CPSC[str(c).strip()] for c in codes if str(c).strip() in SNOMED_TO_CPSC}
    return [label for label in CPSC_LABELS if label in found]


CODE15_LABELS = ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF")

PTBXL_SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
# Membership from scp_statements.csv (diagnostic == 1 -> diagnostic_class); used only when a PTB-XL root
# has no scp_statements.csv, otherwise the CSV is authoritative.
PTBXL_SUPERCLASS_MEMBERS = {
    "NORM": ("NORM",),
    "MI": ("IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI", "INJAS", "INJAL", "INJIN",
           "INJLA", "INJIL"),
    "STTC": ("NDT", "NST_", "DIG", "LNGQT", "ISC_", "ISCAL", "ISCIN", "ISCIL", "ISCAS", "ISCLA", "ISCAN",
             "ANEUR", "EL"),
    "CD": ("LAFB", "LPFB", "IRBBB", "CRBBB", "CLBBB", "ILBBB", "IVCD", "1AVB", "2AVB", "3AVB", "WPW"),
    "HYP": ("LVH", "RVH", "LAO/LAE", "RAO/RAE", "SEHYP"),
}
