"""Turning a model's answer into labels, a letter or a set of options — in the authors' way or robustly.

``pulse`` functions reproduce the released ECGBench scorer's semantics (docs/scoring.md) including its quirks;
``strict`` functions are what we recommend (docs/scoring.md lists every difference). Neither consumes
randomness: the pulse-mode random fallback for unparseable MCQ answers happens in
:func:`llava_ecg.eval.scoring.score_items`, in document order.
"""
from __future__ import annotations

import re
from functools import lru_cache

from llava_ecg.catalog.subsets import EXTRACT_LETTERS, Subset

ANSWER_MARK = "Answer:"
CODE15_NORM, CODE15_ABNORMAL = "NORM", "ABNORMAL"
ECGQA_INSTRUCTION = "Only answer based on the given Options without any explanation."


# ---------------------------------------------------------------- multi-label (ptb, cpsc, code15)

def pulse_labels(subset: Subset, text: str) -> list[str]:
    """Case-sensitive substring match over the fixed label list (``NORM`` matches inside ``ABNORMAL``)."""
    if subset.name == "code15-test":
        return _pulse_code15(subset.labels, text)
    return [label for label in subset.labels if label in text]


def _pulse_code15(classes: tuple[str, ...], text: str) -> list[str]:
    if ANSWER_MARK in text:
        text = text.split(ANSWER_MARK)[-1]
    labels = [label for label in classes if label in text]
    if CODE15_NORM in text and CODE15_ABNORMAL not in text:
        labels.append(CODE15_NORM)
    if CODE15_ABNORMAL in text:
        labels.append(CODE15_ABNORMAL)
    return labels


def gold_labels(subset: Subset, gold: str | list[str], *, mode: str) -> list[str]:
    """Gold labels are derived from the gold text with the same matcher as predictions (as the authors do)."""
    if isinstance(gold, list):
        gold = ";".join(gold)
    if subset.name == "code15-test" and gold.strip() in (CODE15_NORM, CODE15_ABNORMAL):
        return [gold.strip()]
    return pulse_labels(subset, gold) if mode == "pulse" else strict_labels(subset, gold)


@lru_cache(maxsize=None)
def _token_pattern(label: str) -> re.Pattern:
    # A label is a whole token: not glued to letters, digits, '_' or '-' (so ST != STD, ST != ST-segment,
    # AF != AFL, NORM != ABNORMAL).
    return re.compile(rf"(?<![A-Za-z0-9_\-]){re.escape(label)}(?![A-Za-z0-9_\-])")


def strict_labels(subset: Subset, text: str) -> list[str]:
    """Whole-token, case-sensitive matches over the subset's label space, in the final answer only.

    If the response contains ``Answer:``, only the text after the last one is read (the prompt format the
    MCQ subsets ask for; harmless elsewhere).
    """
    if ANSWER_MARK in text:
        text = text.rsplit(ANSWER_MARK, 1)[-1]
    return [label for label in subset.label_space if _token_pattern(label).search(text)]


# ---------------------------------------------------------------- multiple choice (csn, g12, mmmu)

_CORRECT_OPTION = "The correct option is"


def pulse_letter(text: str) -> str | None:
    """The authors' ``extract()`` steps 1-4; ``None`` means "draw a random letter" (step 5)."""
    if text.strip() in EXTRACT_LETTERS:
        return text.strip()
    for letter in EXTRACT_LETTERS:  # alphabetical order, not position: "...LBBB." gives "B"
        if f"{letter}." in text:
            return letter
    if _CORRECT_OPTION in text:
        rest = text.split(_CORRECT_OPTION)[-1].strip()
        if rest:  # their script indexes [0] here and crashes on an empty remainder
            return rest[0]
    if ANSWER_MARK in text:
        tail = text.split(ANSWER_MARK)[-1]
        for letter in EXTRACT_LETTERS:  # "Answer: C (IAVB...)" gives "A"
            if letter in tail:
                return letter
    return None


_OPTION_LINE = re.compile(r"^\s*([A-H])\s*[.)]\s*(.+?)\s*$", re.MULTILINE)
_BARE = re.compile(r"^[\s*(\[]*([A-H])[\s*)\].:]*$")
_ANSWER_IS = re.compile(
    r"(?i:\banswer\b(?:\s+is)?|\bcorrect\s+(?:option|answer|choice)\s+is|\bwe\s+choose)"
    r"\s*[:：]?[\s*]*[(\[]?([A-H])(?![A-Za-z0-9])"
)
_LEADING = re.compile(r"^[\s*]*[(\[]?([A-H])\s*[.):\]](?:\s|$)")


def mcq_options(question_text: str) -> dict[str, str]:
    """``{"A": "option text", ...}`` from the option lines of an MCQ prompt."""
    return dict(_mcq_options(question_text))


@lru_cache(maxsize=4096)  # benchmark prompts repeat: parse each once
def _mcq_options(question_text: str) -> tuple[tuple[str, str], ...]:
    return tuple((m.group(1), m.group(2)) for m in _OPTION_LINE.finditer(question_text))


def strict_letter(text: str, letters: tuple[str, ...], options: dict[str, str] | None = None) -> str | None:
    """Position-aware letter extraction; ``None`` when the answer names no valid option.

    Order: a bare letter ("C", "(C)", "C."); the **last** "Answer: X" / "answer is X" / "correct option is X";
    a leading "C." / "C)"; finally an exact restatement of exactly one option's text.
    """
    stripped = text.strip()
    bare = _BARE.match(stripped)
    if bare and bare.group(1) in letters:
        return bare.group(1)
    found = [m.group(1) for m in _ANSWER_IS.finditer(text) if m.group(1) in letters]
    if found:
        return found[-1]
    leading = _LEADING.match(stripped)
    if leading and leading.group(1) in letters:
        return leading.group(1)
    if options:
        norm = _normalise(stripped)
        exact = [k for k, v in options.items() if k in letters and _normalise(v) == norm]
        if len(exact) == 1:
            return exact[0]
        contained = [k for k, v in options.items() if k in letters and _normalise(v) and _normalise(v) in norm]
        if len(contained) == 1:
            return contained[0]
    return None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip().lower()


def gold_letter(gold: str) -> str:
    """The gold answer's first character (the authors' rule; answers are ``"C"`` or ``"C. text"``)."""
    return gold.strip()[:1]


# ---------------------------------------------------------------- ECG-QA (set answers)

@lru_cache(maxsize=4096)
def pulse_ecgqa_options(question_text: str) -> tuple[str, ...]:
    """Options after the last ``Options:``, minus the trailing instruction, comma-split, stripped."""
    tail = question_text.split("Options:")[-1].replace(ECGQA_INSTRUCTION, "")
    return tuple(c.strip() for c in tail.split(","))


def pulse_ecgqa_answer(question_text: str, text: str) -> list[str]:
    """Options that are substrings of the lower-cased answer (options are *not* lower-cased: "lead V1" never
    matches; "no" matches inside "not sure")."""
    low = text.lower()
    return [c for c in pulse_ecgqa_options(question_text) if c in low]


@lru_cache(maxsize=4096)
def strict_ecgqa_options(question_text: str) -> tuple[str, ...]:
    """Options on the ``Options:`` line only (up to the end of that line), comma-split, de-duplicated."""
    if "Options:" not in question_text:
        return ()
    line = question_text.rsplit("Options:", 1)[1].strip().split("\n", 1)[0]
    line = line.replace(ECGQA_INSTRUCTION, "")
    seen: dict[str, None] = {}
    for c in line.split(","):
        if c.strip():
            seen.setdefault(c.strip(), None)
    return tuple(seen)


@lru_cache(maxsize=4096)
def _phrase_pattern(option: str) -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9]){re.escape(option.lower())}(?![a-z0-9])")


def strict_ecgqa_answer(question_text: str, text: str) -> list[str]:
    """Case-insensitive whole-phrase matches; an option found only inside a longer matched option is dropped
    ("no" inside "not sure" is not an answer)."""
    spans = []
    low = text.lower()
    for option in strict_ecgqa_options(question_text):
        spans.extend((m.start(), m.end(), option) for m in _phrase_pattern(option).finditer(low))
    kept = {
        option
        for start, end, option in spans
        if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)
    }
    return [o for o in strict_ecgqa_options(question_text) if o in kept]


def gold_options(gold: str | list[str]) -> list[str]:
    """ECG-QA gold: a list of option strings; a plain string is read as a comma-separated list."""
    if isinstance(gold, str):
        return [g.strip() for g in gold.split(",") if g.strip()]
    return [str(g) for g in gold]
