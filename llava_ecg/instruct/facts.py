"""The one adapter between a source's ``ECG.meta`` and the facts questions are asked about.

Every task family reads a :class:`RecordFacts`, never ``ECG.meta`` directly, so supporting a new source (or
a hospital's own export) means adding one extractor here. Measurements prefer the machine's own numbers
(MIMIC-IV-ECG ``machine_measurements.csv``, measured values a reader put into ``meta``) and fall back to
the documented signal estimate in :mod:`.measure` (heart rate, regularity, axis only).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Callable

from llava_ecg.catalog import labels as L
from llava_ecg.catalog.snomed import snomed_abbreviation
from llava_ecg.catalog.sources import CHALLENGE_DATABASES, SOURCES, canonical_source
from llava_ecg.registry import Registry

MEASUREMENT_KEYS = ("hr", "pr", "qrs", "qt", "qtc", "axis")
_PLAUSIBLE = {"hr": (15, 350), "pr": (40, 600), "qrs": (30, 300), "qt": (150, 800), "qtc": (200, 800),
              "axis": (-180, 360), "rr_cv": (0, 5)}


@dataclass
class RecordFacts:
    record: str
    source: str
    space: L.LabelSpace
    labels: list[L.Label] = field(default_factory=list)
    measurements: dict[str, float] = field(default_factory=dict)
    measurement_origin: str = "none"  # machine | signal | none
    report: str | None = None
    patient: str | None = None
    superclasses: list[str] = field(default_factory=list)
    allow_non_english_report: bool = False  # set when an LLM pass will translate reports
    # False where the label set is partial (CODE-15%: 6 classes; hospital exports): absence of a morphology
    # label then says nothing, so no "no abnormality" answer is built
    labels_complete: bool = True

    @property
    def name(self) -> str:
        """Record file stem (``00001_hr``, ``44111511``, ``1109348``)."""
        ref = self.record.split("::")[-1]
        return PurePosixPath(ref.replace("\\", "/")).name.removesuffix(".hea").removesuffix(".mat")

    @property
    def source_name(self) -> str:
        return SOURCES[self.source].title

    def family_labels(self, family: str) -> list[L.Label]:
        return [label for label in self.labels if label.family == family]

    def label_codes(self) -> list[str]:
        return [label.code for label in self.labels]


# --- measurement helpers ----------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def clean_measurements(raw: dict[str, Any]) -> dict[str, float]:
    """Keep plausible finite values (drops blanks, NaN and sentinels such as 29999)."""
    out = {}
    for key, (lo, hi) in _PLAUSIBLE.items():
        x = _number(raw.get(key))
        if x is not None and lo <= x <= hi:
            out[key] = x
    if "axis" in out and out["axis"] > 180:
        out["axis"] -= 360
    return out


def mimic_measurements(row: dict[str, Any]) -> dict[str, float]:
    """Features from a MIMIC-IV-ECG ``machine_measurements.csv`` row (times in ms from recording start)."""
    get = lambda k: _number(row.get(k))  # noqa: E731
    rr, p_on, qrs_on, qrs_off, t_end = (get(k) for k in ("rr_interval", "p_onset", "qrs_onset", "qrs_end", "t_end"))
    raw: dict[str, Any] = {"axis": get("qrs_axis")}
    if rr and 200 <= rr <= 4000:
        raw["hr"] = round(60000.0 / rr)
    if p_on is not None and qrs_on is not None:
        raw["pr"] = qrs_on - p_on
    if qrs_on is not None and qrs_off is not None:
        raw["qrs"] = qrs_off - qrs_on
    if qrs_on is not None and t_end is not None:
        raw["qt"] = t_end - qrs_on
        if rr and 200 <= rr <= 4000:
            raw["qtc"] = round(raw["qt"] / math.sqrt(rr / 1000.0))  # Bazett
    return clean_measurements(raw)


# --- per-source extractors -------------------------------------------------------------------------------------
Extractor = Callable[[dict[str, Any], RecordFacts], None]
EXTRACTORS: Registry[Extractor] = Registry("facts extractor")
extractor = EXTRACTORS.register_many


def _scp_codes(meta) -> dict[str, float]:
    codes = meta.get("scp_codes") or {}
    if isinstance(codes, str):
        import ast
        codes = ast.literal_eval(codes)
    if isinstance(codes, (list, tuple)):
        codes = {c: 100.0 for c in codes}
    return dict(codes)


@extractor("ptbxl", "ecgqa")
def _ptbxl(meta, facts):
    codes = _scp_codes(meta)
    facts.space = L.PTBXL_SPACE
    facts.labels = [L.PTBXL_SPACE.by_code[c] for c in codes if c in L.PTBXL_SPACE]
    facts.superclasses = list(meta.get("superclasses") or L.ptbxl_superclasses(codes))
    facts.report = meta.get("report_en") or meta.get("report") or None


@extractor("code15")
def _code15(meta, facts):
    facts.space = L.CODE15_SPACE
    raw = meta.get("labels") or {}
    present = [k for k, v in raw.items() if _truthy(v)] if isinstance(raw, dict) else list(raw)
    for label in L.CODE15_SPACE.labels:  # also accept flat exams.csv columns in meta
        if _truthy(meta.get(label.code)) and label.code not in present:
            present.append(label.code)
    facts.labels = [L.CODE15_SPACE.by_code[c] for c in present if c in L.CODE15_SPACE]
    normal = meta.get("normal_ecg")
    if normal is not None:
        facts.superclasses = ["NORM"] if _truthy(normal) else ["ABNORMAL"]


@extractor("cpsc")
def _cpsc(meta, facts):
    facts.space = L.CPSC_SPACE
    codes = []
    for dx in [*(meta.get("cpsc_labels") or []), *_dx_list(meta)]:
        code = L.SNOMED_TO_CPSC.get(dx, dx if dx in L.CPSC_SPACE else None)
        if code and code not in codes:
            codes.append(code)
    facts.labels = [L.CPSC_SPACE.by_code[c] for c in codes]


@extractor("g12", "csn", "challenge")
def _challenge(meta, facts):
    space = L.challenge_space(facts.source)
    facts.space = space
    codes = []
    for dx in _dx_list(meta):
        label = space.get(dx) or space.get(snomed_abbreviation(dx) or "")
        if label and label.code not in codes:
            codes.append(label.code)
    facts.labels = [space.by_code[c] for c in codes]


@extractor("mimic", "synthetic", "custom")
def _generic(meta, facts):
    facts.space = L.GENERIC_SPACE
    report = meta.get("report")
    if isinstance(report, (list, tuple)):
        report = "\n".join(str(s) for s in report if s)
    statements = meta.get("statements")
    if not report and statements:
        report = "\n".join(str(s) for s in statements if s)
    facts.report = report or None
    codes: list[str] = []
    raw_labels = meta.get("labels") or []
    if isinstance(raw_labels, dict):
        raw_labels = [k for k, v in raw_labels.items() if _truthy(v)]
    for name in [*raw_labels, meta.get("rhythm") or ""]:
        code = L.generic_code(str(name)) if name else None
        if code and code not in codes:
            codes.append(code)
    if facts.report:
        codes += [c for c in L.generic_codes_from_text(facts.report) if c not in codes]
        facts.labels_complete = facts.labels_complete and fully_parsed(facts.report)
    facts.labels = [L.GENERIC_SPACE.by_code[c] for c in codes]
    if "machine_measurements" in meta:
        facts.measurements = mimic_measurements(meta["machine_measurements"])


# statements that carry no finding of their own
_NEUTRAL = re.compile(r"^(normal ecg|borderline ecg|normal sinus rhythm|sinus rhythm|otherwise normal ecg|"
                      r"normal ecg except for rate|when compared with ecg of .*|no significant change.*|"
                      r"unconfirmed.*|compared to.*|rate \d+.*)$")


def fully_parsed(text: str) -> bool:
    """Every statement of a free-text report maps to a vocabulary code (or carries no finding), and none is a bare
    "abnormal ECG": only then does the absence of a morphology label mean there is none."""
    for statement in re.split(r"[\n;.]+", text.lower()):
        statement = statement.strip(" -")
        if not statement or _NEUTRAL.match(statement):
            continue
        if "abnormal ecg" in statement or not L.generic_codes_from_text(statement):
            return False
    return True


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def _dx_list(meta) -> list[str]:
    raw = meta.get("snomed") or meta.get("dx") or meta.get("labels") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [str(x).strip() for x in raw or [] if str(x).strip()]


# --- entry -----------------------------------------------------------------------------------------------------
def record_facts(record: str, ecg, source: str | None = None, *, estimate: bool = True) -> RecordFacts:
    """Facts about one record. ``source`` defaults to ``ecg.meta["source"]`` (else ``custom``)."""
    meta = ecg.meta or {}
    key = canonical_source(source or meta.get("source"))
    if key == "challenge":
        key = CHALLENGE_DATABASES.get(str(meta.get("database")), "challenge")
    facts = RecordFacts(record=str(record), source=key, space=L.GENERIC_SPACE,
                        labels_complete=key not in ("code15", "custom"))
    EXTRACTORS[key](meta, facts)
    facts.patient = _first_str(meta, "patient_id", "subject_id", "patient")
    if not facts.measurements:
        measured = clean_measurements({k: meta.get(k) for k in (*MEASUREMENT_KEYS, "rr_cv")})
        if measured:
            facts.measurements, facts.measurement_origin = measured, "machine"
    else:
        facts.measurement_origin = "machine"
    # The estimate costs ~1 ms a record, so it only runs when the basic numbers are missing.
    if estimate and ecg.signal.size and not {"hr", "axis"} <= facts.measurements.keys():
        estimated = {k: v for k, v in clean_measurements(_estimate(ecg)).items() if k not in facts.measurements}
        if estimated:
            facts.measurements.update(estimated)
            if facts.measurement_origin == "none":
                facts.measurement_origin = "signal"
    return facts


def _estimate(ecg) -> dict[str, float]:
    from .measure import estimate_features
    return estimate_features(ecg)


def _first_str(meta, *keys) -> str | None:
    for k in keys:
        v = meta.get(k)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) != "":
            return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    return None
