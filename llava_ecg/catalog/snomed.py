"""SNOMED-CT diagnoses of the PhysioNet/CinC Challenge 2020/21 (CPSC, G12EC, CSN): abbreviations and names.

``snomed_entry(code)`` / ``snomed_abbreviation`` / ``snomed_name`` use the Challenge 2021 mapping tables
(``snomed_table.py``), the source of the G12EC/CSN option text in ECGBench, rendered by ``ecgbench_option(code)``
as ``ABBR(lower-case name)``, e.g. ``IAVB(1st degree av block)``. The CPSC label space is in ``labels.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .snomed_table import DATABASES, DX_TABLE

__all__ = [
    "DxEntry", "SNOMED", "snomed_entry", "snomed_abbreviation", "snomed_name", "ecgbench_option",
    "CHALLENGE_EQUIVALENT", "DATABASES", "challenge_label_table",
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


def challenge_label_table() -> list[tuple[str, str, str]]:
    """``(snomed, abbreviation, lower-case name)`` for every Challenge 2021 diagnosis (G12EC/CSN options are
    drawn from the union table, as in ECGBench)."""
    return [(code, e.abbreviation, " ".join(e.name.lower().split())) for code, e in SNOMED.items()]
