"""Checks a synthesised item against its record before it is kept (rule-based, no LLM).

Reasons (counted in the build summary; the item goes to the review file with them):

* ``invented_label`` — a finding named in an answer that the record lacks. Mentions are found with the label
  module's English vocabulary (:data:`~llava_ecg.catalog.labels.GENERIC_VOCAB`, synonyms included); the record's
  own labels are mapped into it by code and by name, plus the findings of an English report, what its measurements
  imply (axis < -30° = left axis deviation, > 90° = right, QTc > 460 ms = long QT), their synonyms and implications
  (:mod:`~llava_ecg.catalog.clinical`) and umbrella terms (non-specific ST-T changes for a T-wave abnormality). A
  mention in a clause with a negation or contrast cue ("no", "without", "unlike", "rule out", "if", ...) is not a
  claim.
* ``measurement_off`` — a stated heart rate, PR, QRS, QT, QTc or axis that differs from the record's by more than
  :data:`TOLERANCE`; ``invented_measurement`` — such a number for a measurement the record does not have (and the
  report does not state). Reference ranges ("60-100 bpm", "less than 120 ms") are not claims.
* ``quotes_report`` — the item reuses the report's wording: more than ``quote_max`` of the report's word
  ``quote_ngram``-grams, or a run of ``quote_run`` consecutive report words (QA items and dialogues only; a report
  revision restates its report by design).
* ``mentions_report`` — the task or an answer refers to a report or record the image reader cannot see.
* ``not_english`` — German (or other non-English) text in an item; ``translation_failed`` for a revision of a
  non-English report that is still not English.
* ``format`` — the response ignores the demanded output format (JSON that does not parse, a table without a
  header separator, a list without items, a missing delimiter, a "short" answer of more than 40 words, ...);
  ``too_short`` — a revised report under 4 sentences or a dialogue answer under 2 sentences.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from llava_ecg.catalog.clinical import implied, synonyms
from llava_ecg.catalog.labels import GENERIC_VOCAB, generic_code, generic_codes_from_text
from llava_ecg.llm.jsonx import extract_json

from ..facts import RecordFacts
from ..engine import is_probably_english as _no_marker_words

# largest accepted difference per measurement (units: bpm, ms, degrees)
TOLERANCE = {"hr": 5.0, "pr": 20.0, "qrs": 15.0, "qt": 30.0, "qtc": 30.0, "axis": 15.0}
REASONS = ("invented_label", "measurement_off", "invented_measurement", "quotes_report", "mentions_report",
           "not_english", "translation_failed", "format", "too_short")

_CLAUSES = re.compile(r"(?<=[.!?;:])\s+|\n+|,?\s+\b(?:but|whereas|while|although|however|yet)\b", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:no|not|none|never|neither|nor|without|absence|absent|lack|lacks|lacking|rule[sd]? out|ruling out|"
    r"exclude[sd]?|unlikely|rather than|instead of|versus|vs|unlike|differential|distinguish\w*|"
    r"differentiat\w*|mimic\w*|if|would|could|might|whether|consider|suspect\w*|risk|look-alike|confused?)\b|n't\b",
    re.IGNORECASE)
# claims a present finding licenses beyond the clinical synonyms/implications: the umbrella terms an answer may use
_UMBRELLA = {"NORM": {"SR"}, "NSSTT": {"TAB"}, "TAB": {"NSSTT"}, "STD": {"NSSTT"}, "STE": {"NSSTT"},
             "LAFB": {"LAD"}, "LPFB": {"RAD"}}
_COMPARATOR = re.compile(r"(?:<|>|≤|≥|\bless\b|\bmore\b|\bgreater\b|\bbelow\b|\babove\b|\bunder\b|\bover\b|"
                         r"\bexceed\w*|\bat least\b|\bat most\b|\bup to\b|\bupper\b|\blower\b|\bnormal\w*\b|"
                         r"\blimit\b|\brange\b|\btypically\b|\busually\b|\bcut-?off\b|\bthreshold\b)", re.IGNORECASE)
_RANGE_BEFORE = re.compile(r"\d\s*(?:-|–|to)\s*$")
_HR = re.compile(r"(?<![\d.])(\d{2,3})\s*(?:bpm|beats per minute|beats/min|/min)\b", re.IGNORECASE)
_INTERVAL = re.compile(r"\b(QTc|QT|PR|QRS)\b([^.\d]{0,40}?)(\d+(?:\.\d+)?)\s*(ms|msec|milliseconds?|s|sec|seconds?)\b"
                       r"(?!\s*(?:-|–|to)\s*\d)", re.IGNORECASE)
_AXIS = re.compile(r"\baxis\b([^.\d+\-−]{0,40}?)([+\-−]?\d{1,3})\s*(?:°|degrees?|deg\b)", re.IGNORECASE)
_MENTIONS_REPORT = re.compile(
    r"\b(?:the|this|given|provided|attached|accompanying|original|physician'?s?|cardiologist'?s?|written) "
    r"(?:report|record|notes?)\b|\baccording to the\b|\bas (?:documented|reported|stated|noted) in\b",
    re.IGNORECASE)
# German text the report-language markers miss: umlauts/eszett, German ECG words and German word endings
_GERMAN = re.compile(r"[äöüßÄÖÜ]|\b(?:und|mit|bei|nicht|keine?|sonst|normales|verdacht|wahrscheinlich|fraglich|"
                     r"infarkt|vorhof\w*|kammer\w*|\w+schenkelblock|\w+typ|niederspannung|periphere|"
                     r"\w{4,}(?:ung|ungen|isch|ische[nrs]?|liche[nrs]?))\b", re.IGNORECASE)


def is_english(text: str) -> bool:
    """False for text in German (or PTB-XL's other languages): never let it into English training data."""
    return _no_marker_words(text) and not _GERMAN.search(text or "")


_WORD = re.compile(r"[a-z0-9äöüß]+|§")
_FINDING_NAMES = [re.compile(pattern) for _c, _n, _f, pattern in GENERIC_VOCAB]
_SENTENCE = re.compile(r"[^.!?]*[A-Za-z][^.!?]*[.!?]")


@dataclass
class GroundingConfig:
    tolerance: dict[str, float] = field(default_factory=lambda: dict(TOLERANCE))
    quote_ngram: int = 5
    quote_max: float = 0.25
    quote_run: int = 10
    min_report_sentences: int = 4
    min_answer_sentences: int = 2
    short_answer_words: int = 40

    def fingerprint(self) -> dict:
        return {"tolerance": dict(sorted(self.tolerance.items())), "quote_ngram": self.quote_ngram,
                "quote_max": self.quote_max, "quote_run": self.quote_run,
                "min_report_sentences": self.min_report_sentences,
                "min_answer_sentences": self.min_answer_sentences, "short_answer_words": self.short_answer_words}


def _codes_of(text: str) -> set[str]:
    return set(generic_codes_from_text(text))


def record_codes(facts: RecordFacts, report_en: str | None) -> set[str]:
    """The record's findings in the generic English vocabulary (what an answer may claim)."""
    codes: set[str] = set()
    for label in facts.labels:
        codes |= _codes_of(label.name)
        code = generic_code(label.code)
        if code:
            codes.add(code)
    if report_en:
        codes |= _codes_of(report_en)
    m = facts.measurements
    if "axis" in m:
        codes |= {"LAD"} if m["axis"] < -30 else {"RAD"} if m["axis"] > 90 else set()
    if m.get("qtc", 0) > 460:
        codes.add("LQT")
    for code in list(codes):
        codes |= synonyms("generic", code) | implied("generic", code) | _UMBRELLA.get(code, set())
    return codes


def claimed_codes(text: str) -> set[str]:
    """Findings the text asserts (mentions in negated or contrasting clauses excluded)."""
    found: set[str] = set()
    for clause in _CLAUSES.split(text or ""):
        if clause and not _NEGATION.search(clause):
            found |= _codes_of(clause)
    return found


def stated_measurements(text: str) -> list[tuple[str, float]]:
    """``(key, value)`` for every rate, interval (ms) and axis the text states as a value of this ECG."""
    out = []
    for m in _HR.finditer(text):
        before = text[max(0, m.start() - 40):m.start()]
        if not _RANGE_BEFORE.search(before) and not _COMPARATOR.search(before[-25:]):
            out.append(("hr", float(m.group(1))))
    for m in _INTERVAL.finditer(text):
        gap = m.group(2)
        if _COMPARATOR.search(gap):
            continue
        value = float(m.group(3)) * (1000.0 if m.group(4).lower().startswith("s") else 1.0)
        out.append((m.group(1).lower(), value))
    for m in _AXIS.finditer(text):
        if _COMPARATOR.search(m.group(1)):
            continue
        out.append(("axis", float(m.group(2).replace("−", "-"))))
    return out


def _words(text: str, names: tuple[str, ...] = ()) -> list[str]:
    """Lower-case words; names of findings become a "§" break: naming a finding is not quoting."""
    text = (text or "").lower()
    for name in names:
        text = text.replace(name.lower(), " § ")
    for pattern in _FINDING_NAMES:
        text = pattern.sub(" § ", text)
    return _WORD.findall(text)


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {g for g in (tuple(words[i:i + n]) for i in range(len(words) - n + 1)) if "§" not in g}


def quote_overlap(report: str, text: str, n: int, names: tuple[str, ...] = ()) -> tuple[float, int]:
    """(share of the report's word n-grams found in ``text``, longest run of consecutive report words in it);
    finding names (``names`` and the label vocabulary) do not count."""
    rw, tw = _words(report, names), _words(text, names)
    grams = _grams(rw, n)
    if not grams or not tw:
        return 0.0, 0
    share = len(grams & _grams(tw, n)) / len(grams)
    longest, prev = 0, [0] * (len(tw) + 1)
    for a in rw:  # longest common run of words, O(len(rw) * len(tw))
        cur = [0] * (len(tw) + 1)
        for j, b in enumerate(tw, 1):
            if a == b and a != "§":
                cur[j] = prev[j - 1] + 1
                longest = max(longest, cur[j])
        prev = cur
    return share, longest


def sentences(text: str) -> int:
    bullets = sum(1 for line in (text or "").splitlines() if re.match(r"\s*(?:[-*•]|\d+[.)])\s+\w", line))
    return max(len(_SENTENCE.findall(text or "")), bullets)


def format_problem(fmt: str, response: str, *, delimiter: str | None = None, short_words: int = 40) -> str | None:
    """Why ``response`` does not follow output format ``fmt`` (``None`` when it does)."""
    lines = [line.strip() for line in response.splitlines() if line.strip()]
    if fmt == "json":
        return None if extract_json(response, want=(dict, list)) is not None else "no JSON value"
    if fmt == "table":
        rows = [line for line in lines if line.count("|") >= 2]
        has_rule = any(re.fullmatch(r"\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?", line) for line in lines)
        return None if len(rows) >= 3 and has_rule else "no Markdown table (header, rule, rows)"
    if fmt == "list":
        items = [line for line in lines if re.match(r"(?:[-*•]|\d+[.)])\s+\S", line)]
        return None if len(items) >= 2 else "fewer than 2 list items"
    if fmt == "step_by_step":
        steps = [line for line in lines if re.match(r"(?:\**step\s*\d+|\d+[.)])", line, re.IGNORECASE)]
        return None if len(steps) >= 2 else "fewer than 2 numbered steps"
    if fmt == "short_answer":
        n = len(response.split())
        return None if n <= short_words else f"{n} words for a short answer"
    if fmt == "delimiter":
        return None if delimiter and delimiter.strip() in response else f"delimiter {delimiter!r} not used"
    return None


@dataclass
class Grounding:
    """The checks for one record: ``facts``, the report as given to the model and, when known, its English form."""

    facts: RecordFacts
    report: str | None
    config: GroundingConfig = field(default_factory=GroundingConfig)

    def __post_init__(self):
        self.report_english = bool(self.report) and is_english(self.report)
        self.allowed = record_codes(self.facts, self.report if self.report_english else None)
        self.report_numbers = set(re.findall(r"\d+", self.report or ""))

    def answer_reasons(self, text: str) -> list[str]:
        reasons = []
        if claimed_codes(text) - self.allowed:
            reasons.append("invented_label")
        for key, value in stated_measurements(text):
            truth = self.facts.measurements.get(key)
            if truth is None:
                if f"{value:g}" not in self.report_numbers:
                    reasons.append("invented_measurement")
            elif abs(value - truth) > self.config.tolerance.get(key, 0.0):
                reasons.append("measurement_off")
        if _MENTIONS_REPORT.search(text):
            reasons.append("mentions_report")
        if not is_english(text):
            reasons.append("not_english")
        return _unique(reasons)

    def invented(self, text: str) -> dict:
        """What an answer claims beyond the record (for the review file)."""
        return {"labels": sorted(claimed_codes(text) - self.allowed),
                "measurements": [(k, v) for k, v in stated_measurements(text)
                                 if k not in self.facts.measurements
                                 or abs(v - self.facts.measurements[k]) > self.config.tolerance.get(k, 0.0)]}

    def quoting(self, text: str) -> bool:
        if not self.report:
            return False
        names = tuple(sorted({label.name for label in self.facts.labels}, key=len, reverse=True))
        share, run = quote_overlap(self.report, text, self.config.quote_ngram, names)
        return share > self.config.quote_max or run >= self.config.quote_run

    # ---- per item kind
    def check_task(self, task: str, response: str, fmt: str, delimiter: str | None = None) -> list[str]:
        reasons = self.answer_reasons(response)
        if _MENTIONS_REPORT.search(task):
            reasons.append("mentions_report")
        if not is_english(task):
            reasons.append("not_english")
        if self.quoting(f"{task}\n{response}"):
            reasons.append("quotes_report")
        if format_problem(fmt, response, delimiter=delimiter, short_words=self.config.short_answer_words):
            reasons.append("format")
        return _unique(reasons)

    def check_dialogue(self, turns: list[tuple[str, str]]) -> list[str]:
        reasons: list[str] = []
        for human, answer in turns:
            reasons += self.answer_reasons(answer)
            if _MENTIONS_REPORT.search(human) or not is_english(human):
                reasons.append("mentions_report" if _MENTIONS_REPORT.search(human) else "not_english")
            if sentences(answer) < self.config.min_answer_sentences:
                reasons.append("too_short")
        if self.quoting("\n".join(f"{h}\n{a}" for h, a in turns)):
            reasons.append("quotes_report")
        return _unique(reasons)

    def check_report(self, revised: str) -> list[str]:
        reasons = [r for r in self.answer_reasons(revised) if r not in ("mentions_report", "not_english")]
        if not is_english(revised):
            reasons.append("not_english" if self.report_english else "translation_failed")
        if sentences(revised) < self.config.min_report_sentences:
            reasons.append("too_short")
        return _unique(reasons)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
