"""The generic task families x formats: each registered task turns one record's facts into one conversation.

The engine (``Item``, ``@task``, the registries) is :mod:`.engine`; importing this module also registers the
in-domain variants (:mod:`.indomain`). Answers are computed from :class:`~.facts.RecordFacts` only, so they
always agree with the record's labels and measurements. Phrasings are lists of variants chosen by the seeded
``rng``; the chosen variant is recorded as the item's template id (``family.format.kind#index``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from llava_ecg.catalog.clinical import blocked, display_name, related, sentence
from llava_ecg.catalog.labels import Label

from . import indomain  # noqa: F401  (registers the in-domain source variants)
from .engine import LETTERS, Item, clean_report, is_probably_english, join_names, mcq_answer, mcq_block, pick, task
from .facts import RecordFacts
from .measure import IRREGULAR_RR_CV


# ----------------------------------------------------------------------------------------------------------------
# feature family: rate, regularity, intervals, axis
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measure:
    key: str
    name: str
    unit: str
    bins: tuple[tuple[float, float, str, str], ...]  # [lo, hi) on the rounded value, range text, meaning

    def value(self, facts: RecordFacts) -> int | None:
        v = facts.measurements.get(self.key)
        return None if v is None else int(round(v))

    def bin_index(self, v: int) -> int:
        for i, (lo, hi, _t, _m) in enumerate(self.bins):
            if lo <= v < hi:
                return i
        raise ValueError(f"{self.name} {v} outside every bin")

    def show(self, v: int) -> str:
        if self.key == "axis":
            return f"{v:+d}°" if v else "0°"
        return f"{v} {self.unit}"


INF = float("inf")
MEASURES: dict[str, Measure] = {m.key: m for m in (
    Measure("hr", "heart rate", "bpm", (
        (0, 60, "below 60 bpm", "consistent with bradycardia"),
        (60, 101, "between 60 and 100 bpm", "within the normal range"),
        (101, 151, "between 101 and 150 bpm", "consistent with tachycardia"),
        (151, INF, "above 150 bpm", "a marked tachycardia"))),
    Measure("pr", "PR interval", "ms", (
        (0, 120, "shorter than 120 ms", "a short PR interval"),
        (120, 201, "between 120 and 200 ms", "within normal limits"),
        (201, 301, "between 201 and 300 ms", "prolonged, as in first-degree AV block"),
        (301, INF, "longer than 300 ms", "markedly prolonged"))),
    Measure("qrs", "QRS duration", "ms", (
        (0, 110, "shorter than 110 ms", "a narrow QRS complex"),
        (110, 120, "between 110 and 119 ms", "borderline wide, as in incomplete bundle branch block"),
        (120, 161, "between 120 and 160 ms", "a wide QRS complex"),
        (161, INF, "longer than 160 ms", "a markedly wide QRS complex"))),
    Measure("qtc", "corrected QT interval (QTc)", "ms", (
        (0, 350, "shorter than 350 ms", "a short QTc"),
        (350, 451, "between 350 and 450 ms", "within normal limits"),
        (451, 501, "between 451 and 500 ms", "prolonged"),
        (501, INF, "longer than 500 ms", "markedly prolonged"))),
    Measure("qt", "QT interval", "ms", (
        (0, 350, "shorter than 350 ms", "short in absolute terms (judge it with the heart rate: see the QTc)"),
        (350, 441, "between 350 and 440 ms", "in the usual absolute range"),
        (441, 501, "between 441 and 500 ms", "long in absolute terms (judge it with the heart rate: see the QTc)"),
        (501, INF, "longer than 500 ms", "very long"))),
    Measure("axis", "QRS axis", "degrees", (
        (-180, -90, "between -180° and -91° (extreme axis deviation)", "an extreme (northwest) axis"),
        (-90, -30, "between -90° and -31° (left axis deviation)", "left axis deviation"),
        (-30, 91, "between -30° and +90° (normal axis)", "a normal axis"),
        (91, 181, "between +91° and +180° (right axis deviation)", "right axis deviation"))),
)}


def _measure(facts: RecordFacts, rng: random.Random) -> tuple[Measure, int] | None:
    available = [m for m in MEASURES.values() if m.value(facts) is not None]
    if not available:
        return None
    m = rng.choice(available)
    return m, m.value(facts)


def _describe(m: Measure, v: int) -> str:
    _lo, _hi, _text, meaning = m.bins[m.bin_index(v)]
    return f"The {m.name} is about {m.show(v)}, {meaning}."


@task("feature", "close")
def feature_close(facts, rng):
    has_rr = "rr_cv" in facts.measurements
    has_other = any(m.value(facts) is not None for m in MEASURES.values())
    if has_rr and (not has_other or rng.random() < 0.25):
        irregular = facts.measurements["rr_cv"] > IRREGULAR_RR_CV
        ask_regular = rng.random() < 0.5
        tid, q = pick(rng, "feature.close.regularity", [
            "Is the rhythm {}?", "Are the R-R intervals {} on this ECG?", "Would you describe the ventricular rhythm as {}?"])
        q = q.format("regular" if ask_regular else "irregular")
        yes = ask_regular != irregular
        why = "The R-R intervals vary markedly from beat to beat." if irregular else \
            "The R-R intervals are nearly constant."
        return Item("feature", "close", [(q + _yes_no_suffix(rng), f"{'Yes' if yes else 'No'}. {why}")], tid,
                    ["rr_cv"], {"yes": yes})
    chosen = _measure(facts, rng)
    if not chosen:
        return None
    m, v = chosen
    true_bin = m.bin_index(v)
    asked_bin = true_bin if rng.random() < 0.5 else rng.choice([i for i in range(len(m.bins)) if i != true_bin])
    tid, q = pick(rng, "feature.close.range", [
        "Is the {name} {range}?", "Based on the tracing, is the {name} {range}?",
        "Would you estimate the {name} to be {range}?", "Does the {name} on this ECG fall {range}?"])
    q = q.format(name=m.name, range=m.bins[asked_bin][2])
    yes = asked_bin == true_bin
    return Item("feature", "close", [(q + _yes_no_suffix(rng), f"{'Yes' if yes else 'No'}. {_describe(m, v)}")],
                tid, [m.key], {"yes": yes, "value": v})


def _yes_no_suffix(rng: random.Random) -> str:
    return rng.choice(["", " Answer yes or no.", " Please answer yes or no and give a short reason."])


@task("feature", "open")
def feature_open(facts, rng):
    chosen = _measure(facts, rng)
    if not chosen:
        return None
    m, v = chosen
    tid, q = pick(rng, "feature.open", [
        "What is the {name} on this ECG?", "Estimate the {name} from this ECG image.",
        "How would you characterise the {name} in this tracing?", "Measure the {name} and interpret it."])
    return Item("feature", "open", [(q.format(name=m.name), _describe(m, v))], tid, [m.key], {"value": v})


@task("feature", "fill")
def feature_fill(facts, rng):
    chosen = _measure(facts, rng)
    if not chosen:
        return None
    m, v = chosen
    unit = "degrees" if m.key == "axis" else m.unit
    tid, q = pick(rng, "feature.fill", [
        "Fill in the blank: the {name} on this ECG is approximately ___ {unit}.",
        "Complete the sentence with a number: \"The {name} measures about ___ {unit}.\"",
        "The {name} shown here is ___ {unit}. Fill in the blank with your estimate."])
    return Item("feature", "fill", [(q.format(name=m.name, unit=unit), str(v))], tid, [m.key], {"value": v})


@task("feature", "mcq")
def feature_mcq(facts, rng):
    chosen = _measure(facts, rng)
    if not chosen:
        return None
    m, v = chosen
    i = m.bin_index(v)
    options = [b[2] for b in m.bins]
    tid, q = pick(rng, "feature.mcq", [
        "Which option best describes the {name} on this ECG?", "What is the {name} in this tracing?",
        "Select the range that contains the {name}."])
    answer = mcq_answer(LETTERS[i], options[i])
    if rng.random() < 0.5:
        answer = f"The {m.name} is about {m.show(v)}.\n{answer}"
    return Item("feature", "mcq", [(f"{q.format(name=m.name)}\n{mcq_block(options)}", answer)], tid, [m.key],
                {"letter": LETTERS[i], "value": v, "options": options})


# ----------------------------------------------------------------------------------------------------------------
# rhythm and morphology families: the same question shapes over the record's labels of that family
# ----------------------------------------------------------------------------------------------------------------
FAMILY_WORDS = {"rhythm": "rhythm or conduction", "morphology": "morphological or diagnostic"}
# PTB-XL diagnostic groups whose codes overlap (MI localisations, ST/T subtypes, hypertrophy forms): a sibling of
# a present code is never a negative. Finer relations (synonyms, implications) live in .clinical.
OVERLAPPING_GROUPS = {"MI", "STTC", "HYP"}
NO_MORPHOLOGY = "no morphological abnormality"


def name_of(facts: RecordFacts, label: Label) -> str:
    """The clinical display name (mid-sentence form) of one of the record's space labels."""
    return display_name(facts.space.name, label.code, label.name)


def negatives(facts: RecordFacts, family: str) -> list[Label]:
    """Labels of ``family`` that are certainly absent: not present, not a synonym, parent, child or overlapping
    sibling of a present label (see :func:`.clinical.blocked`)."""
    block = blocked(facts.space.name, facts.label_codes())
    groups = {label.group for label in facts.labels if label.group in OVERLAPPING_GROUPS}
    return [label for label in facts.space.family(family) if label.code not in block and label.group not in groups]


def distinct_distractors(facts: RecordFacts, candidates: list[Label], n: int, rng: random.Random,
                         chosen: list[Label]) -> list[Label]:
    """Up to ``n`` of ``candidates``, none related (synonym/implication/overlap) to each other or to ``chosen``."""
    pool = list(candidates)
    rng.shuffle(pool)
    out: list[Label] = []
    for label in pool:
        if len(out) == n:
            break
        if not any(related(facts.space.name, label.code, other.code) for other in (*chosen, *out)):
            out.append(label)
    return out


def findings_sentence(facts: RecordFacts, labels: list[Label]) -> str:
    """"The ECG shows A and B." (a normal-ECG statement reads "This is a normal ECG with A.")."""
    names = [name_of(facts, label) for label in labels if label.code != "NORM"]
    if len(names) < len(labels):
        return "This is a normal ECG" + (f" with {join_names(names)}." if names else ".")
    return f"The ECG shows {join_names(names)}."


RATE_PATTERNS = ("regular rhythm at a normal rate", "regular bradycardia (below 60 bpm)",
                 "regular tachycardia (above 100 bpm)", "irregular rhythm")


def _rate_pattern(facts: RecordFacts) -> int | None:
    """Index in ``RATE_PATTERNS`` from the measured rate and R-R variability (records without rhythm labels)."""
    hr, cv = facts.measurements.get("hr"), facts.measurements.get("rr_cv")
    if hr is None or cv is None:
        return None
    if cv > IRREGULAR_RR_CV:
        return 3
    return 1 if hr < 60 else 2 if hr > 100 else 0


def _unlabelled_rhythm(facts: RecordFacts, fmt: str, rng: random.Random) -> "Item | None":
    """Rhythm open/fill/MCQ items from the measured rate and regularity, for a record with no rhythm label."""
    k = _rate_pattern(facts)
    if k is None:
        return None
    hr = int(round(facts.measurements["hr"]))
    regular = "irregular" if k == 3 else "regular"
    if fmt == "fill":
        tid, q = pick(rng, "rhythm.fill.regularity", [
            "Fill in the blank with \"regular\" or \"irregular\": \"The ventricular rhythm on this ECG is ___.\"",
            "Complete the sentence with one word: \"The R-R intervals show a ___ rhythm.\""])
        return Item("rhythm", "fill", [(q, regular)], tid, ["rr_cv"], {"accepted": [regular]})
    if fmt == "open":
        tid, q = pick(rng, "rhythm.open.regularity", [
            "Describe the rhythm on this ECG.", "Is the rhythm regular, and what is the ventricular rate?"])
        why = "the R-R intervals vary markedly" if k == 3 else "the R-R intervals are nearly constant"
        return Item("rhythm", "open", [(q, f"The rhythm is {regular} ({why}) at about {hr} bpm.")], tid,
                    ["rr_cv", "hr"], {"pattern": RATE_PATTERNS[k]})
    texts = [sentence(t) for t in RATE_PATTERNS]
    tid, q = pick(rng, "rhythm.mcq.regularity", [
        "Which option best describes the rate and regularity of the rhythm?",
        "How would you characterise the ventricular rhythm on this ECG?"])
    return Item("rhythm", "mcq", [(f"{q}\n{mcq_block(texts)}", mcq_answer(LETTERS[k], texts[k]))], tid,
                ["rr_cv", "hr"], {"letter": LETTERS[k], "code": "", "options": ["", "", "", ""]})


def _label_close(family: str):
    def fn(facts, rng):
        positives, negs = facts.family_labels(family), negatives(facts, family)
        small = len(facts.space.family(family)) <= 12
        if small and rng.random() < 0.3:
            return _select_all(facts, family, rng)
        ask_positive = positives and (not negs or rng.random() < 0.5)
        if not ask_positive and not negs:
            return None
        label = rng.choice(positives) if ask_positive else rng.choice(negs)
        name = name_of(facts, label)
        tid, q = pick(rng, f"{family}.close.verify", [
            "Does this ECG show {name}?", "Is there evidence of {name} on this ECG?",
            "Can {name} be identified in this tracing?", "Based on the image, is {name} present?"])
        q = q.format(name=name) + _yes_no_suffix(rng)
        answer = f"Yes, the ECG shows {name}." if ask_positive else f"No, there is no evidence of {name}."
        return Item(family, "close", [(q, answer)], tid, [label.code], {"yes": bool(ask_positive)})
    return fn


def _select_all(facts: RecordFacts, family: str, rng: random.Random) -> Item:
    options = facts.space.family(family)
    present = [label.code for label in facts.family_labels(family)]
    tid, q = pick(rng, f"{family}.close.select", [
        "Identify all fitting options from the provided list, and enumerate them using semicolon: {opts}. "
        "Only answer based on the given options without any explanation.",
        "Which of the following {word} findings are present on this ECG? {opts}. "
        "List the abbreviations separated by semicolons, or answer none.",
        "Select every applicable label for this ECG from: {opts}. Separate your picks with semicolons."])
    opts = ", ".join(f"{label.code}({name_of(facts, label)})" for label in options)
    q = q.format(opts=opts, word=FAMILY_WORDS[family])
    answer = "; ".join(present) if present else "none"
    return Item(family, "close", [(q, answer)], tid, [label.code for label in options], {"codes": present})


def _label_open(family: str):
    def fn(facts, rng):
        positives = facts.family_labels(family)
        if not positives and family == "rhythm":
            return _unlabelled_rhythm(facts, "open", rng)
        if not positives and not (family == "morphology" and facts.labels_complete):
            return None
        tid, q = pick(rng, f"{family}.open", {
            "rhythm": ["Describe the rhythm and conduction on this ECG.", "What rhythm does this ECG show?",
                       "Analyse the cardiac rhythm in this image, including any conduction abnormality.",
                       "What arrhythmia or conduction findings, if any, are present?"],
            "morphology": ["What morphological or diagnostic findings does this ECG show?",
                           "Describe the waveform morphology and the main diagnosis.",
                           "Identify any pathology visible on this ECG.",
                           "What is the diagnostic interpretation of this tracing?"]}[family])
        answer = findings_sentence(facts, positives) if positives else f"There is {NO_MORPHOLOGY}."
        return Item(family, "open", [(q, answer)], tid, [label.code for label in positives],
                    {"codes": [label.code for label in positives]})
    return fn


def _label_fill(family: str):
    def fn(facts, rng):
        positives = facts.family_labels(family)
        word = FAMILY_WORDS[family]
        if not positives and family == "rhythm":
            return _unlabelled_rhythm(facts, "fill", rng)
        if not positives:
            if not (family == "morphology" and facts.labels_complete):
                return None
            tid, q = pick(rng, "morphology.fill.normal", [
                "Fill in the blank with \"normal\" or \"abnormal\": \"The waveform morphology of this ECG is ___.\"",
                "Complete the sentence with one word: \"The P-QRS-T morphology on this tracing is ___.\""])
            return Item(family, "fill", [(q, "normal")], tid, [], {"accepted": []})
        label = rng.choice(positives)
        tid, q = pick(rng, f"{family}.fill", [
            "Fill in the blank with one {word} finding: \"This ECG shows ___.\"",
            "Complete the sentence: \"A {word} finding on this tracing is ___.\"",
            "This ECG demonstrates ___ (one {word} finding). Fill in the blank."])
        return Item(family, "fill", [(q.format(word=word), name_of(facts, label))], tid, [label.code],
                    {"accepted": [label.code for label in positives]})
    return fn


def _label_mcq(family: str):
    def fn(facts, rng):
        positives, negs = facts.family_labels(family), negatives(facts, family)
        if not positives and family == "rhythm":
            return _unlabelled_rhythm(facts, "mcq", rng)
        none_correct = not positives and family == "morphology" and facts.labels_complete
        if (not positives and not none_correct) or len(negs) < 2:
            return None
        correct = rng.choice(positives) if positives else None
        n_distractors = 7 if len(negs) >= 7 and rng.random() < 0.25 else 3  # A-H for large label spaces
        distractors = distinct_distractors(facts, negs, n_distractors, rng, [correct] if correct else [])
        if len(distractors) < 2:
            return None
        options = [correct, *distractors]
        rng.shuffle(options)
        i = options.index(correct)
        texts = [sentence(name_of(facts, label)) if label else sentence(NO_MORPHOLOGY) for label in options]
        tid, q = pick(rng, f"{family}.mcq", {
            "rhythm": ["Which of the following rhythm or conduction findings is present on this ECG?",
                       "What is the most accurate rhythm finding for this ECG?",
                       "Which finding regarding rhythm and conduction does this tracing show?"],
            "morphology": ["Which of the following best describes the morphology of this ECG?",
                           "Which diagnosis is supported by this ECG?",
                           "Select the option that matches the waveform morphology of this tracing."]}[family])
        lead = rng.choice(["", "Time for a multiple-choice question. ", "Choose one option. "])
        codes = [label.code if label else "" for label in options]
        return Item(family, "mcq", [(f"{lead}{q}\n{mcq_block(texts)}", mcq_answer(LETTERS[i], texts[i]))], tid,
                    [c for c in codes if c], {"letter": LETTERS[i], "code": correct.code if correct else "",
                                              "options": codes})
    return fn


for _family in ("rhythm", "morphology"):
    task(_family, "close")(_label_close(_family))
    task(_family, "open")(_label_open(_family))
    task(_family, "fill")(_label_fill(_family))
    task(_family, "mcq")(_label_mcq(_family))


# ----------------------------------------------------------------------------------------------------------------
# report family and multi-turn dialogues
# ----------------------------------------------------------------------------------------------------------------
def templated_report(facts: RecordFacts) -> str | None:
    """A short structured report from labels and measurements (sources without free-text reports)."""
    rhythm = [name_of(facts, label) for label in facts.family_labels("rhythm")]
    morph = [name_of(facts, label) for label in facts.family_labels("morphology")]
    parts = []
    if rhythm:
        parts.append(f"Rhythm: {join_names(rhythm)}.")
    for key in ("hr", "pr", "qrs", "qtc", "axis"):
        m = MEASURES[key]
        v = m.value(facts)
        if v is not None:
            parts.append(_describe(m, v))
    if morph:
        parts.append(f"Findings: {join_names(morph)}.")
    return " ".join(parts) if (rhythm or morph) else None


REPORT_PROMPTS = [
    "Write a diagnostic report for this ECG image.",  # the ptb-test-report prompt
    "Write a clinical report for this ECG.", "Review the ECG image and produce a concise diagnostic report.",
    "Interpret this 12-lead ECG as a cardiologist would in a written report.",
    "Provide a report describing the rhythm, intervals, axis and any abnormalities on this ECG."]


@task("report", "open")
def report_open(facts, rng):
    """The record's own report when it is English (or will be translated), else a report templated from the labels
    and measurements: an untranslated PTB-XL report never becomes a target."""
    text, kind = None, "free"
    if facts.report and (facts.allow_non_english_report or is_probably_english(facts.report)):
        text = clean_report(facts.report)
    else:
        text, kind = templated_report(facts), "templated"
    if not text:
        return None
    tid, q = pick(rng, f"report.open.{kind}", REPORT_PROMPTS)
    return Item("report", "open", [(q, text)], tid, [], {"report_kind": kind})


@task("report", "multi")
def multi_turn(facts, rng):
    turns, asked = [], []
    chosen = _measure(facts, rng)
    if chosen:
        m, v = chosen
        turns.append((f"What is the {m.name} on this ECG?", _describe(m, v)))
        asked.append(m.key)
    for family, question in (("rhythm", "What is the rhythm, and is there any conduction abnormality?"),
                             ("morphology", "Are there any morphological or diagnostic findings?")):
        labels = facts.family_labels(family)
        if labels:
            turns.append((question, findings_sentence(facts, labels)))
            asked += [x.code for x in labels]
    summary = templated_report(facts)
    if summary and len(turns) >= 2:
        turns.append(("Summarise your overall interpretation.", summary))
    if len(turns) < 2:
        return None
    n = rng.randint(2, min(4, len(turns)))
    return Item("report", "multi", turns[:n], "report.multi.features-to-diagnosis#0", asked, {"turns": n})

